"""Refinement analysis: rank TradeStation optimizer results into `Refinement_Analysis_<SYM>.xlsx`.

Input: one file per refinement job, named `[phase5_results_]<TS-NAME>_rank<k>.csv` (or `.txt`),
by default in `<results_root>/<SYMBOL>/phase5_results/` or a sub-folder of it (one per sweep,
e.g. `phase5_results/phase1_slim-default/`, mirroring `phase5_refine/<grid>-<phases>/`, so the
jobs of two sweeps may share a file name): a TradeStation Strategy Optimization Report exported
as CSV (comma, tab or semicolon separated), one row per tested combination.
Column names are matched case-insensitively, ignoring spaces and punctuation ('%' reads
'pct'), with the aliases below; values may carry '$', ',', '%' and '(...)' for negatives.

    required  Net Profit                      ($)
              Max Strategy Drawdown           ($, sign ignored)       alias Max Drawdown
              Max Strategy Drawdown (%)       (percent, sign ignored) alias Max Drawdown %
              Annual Rate of Return           (CAGR, percent)         alias CAGR
              Sharpe Ratio, Sortino Ratio
              Profit Factor, or Gross Profit and Gross Loss
    optional  Total Trades, % Profitable, Test
    inputs    every other column (the strategy inputs, e.g. ATRPeriod, ATRMult)

Metrics, each ranked per strategy (TS-NAME) over all its files, 1 = best, ties averaged:
    mar           CAGR % / max drawdown %
    sharpe        as reported
    sortino       as reported
    profit_factor gross profit / |gross loss| (or as reported)
    profit_dd     net profit / max drawdown $
    robustness    % of the rows of the same file (the source plateau's refinement job) with
                  net profit > 0
Undefined values (a zero drawdown or no losing trade) are left blank and rank last.
rank_sum = the sum of the six ranks; composite_rank = rank of rank_sum, 1 = best. A row's
source is its file's path relative to the input folder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.atomic import atomic_path
from tradelab.data.symbols import validate_symbol
from tradelab.errors import DataError

__all__ = [
    "RANK_METRICS",
    "RefinementReport",
    "analyze_refinement",
    "rank_results",
    "read_optimizer_file",
    "write_workbook",
]

RANK_METRICS = ("mar", "sharpe", "sortino", "profit_factor", "profit_dd", "robustness")

_ALIASES: dict[str, tuple[str, ...]] = {
    "net_profit": ("netprofit", "allnetprofit", "totalnetprofit"),
    "gross_profit": ("grossprofit", "allgrossprofit"),
    "gross_loss": ("grossloss", "allgrossloss"),
    "max_drawdown": ("maxstrategydrawdown", "maxdrawdown", "allmaxstrategydrawdown"),
    "max_drawdown_pct": (
        "maxstrategydrawdownpct",
        "maxdrawdownpct",
        "allmaxstrategydrawdownpct",
        "pctmaxstrategydrawdown",
    ),
    "cagr": ("annualrateofreturn", "annualrateofreturnpct", "cagr", "cagrpct", "annualreturn"),
    "sharpe": ("sharperatio", "sharpe"),
    "sortino": ("sortinoratio", "sortino"),
    "profit_factor": ("profitfactor", "allprofitfactor"),
    "total_trades": ("totaltrades", "totalnumberoftrades", "alltotalnumberoftrades", "trades"),
    "pct_profitable": ("pctprofitable", "percentprofitable", "allpctprofitable", "winrate"),
    "test": ("test", "testnumber"),
}
_REQUIRED = ("net_profit", "max_drawdown", "max_drawdown_pct", "cagr", "sharpe", "sortino")
_FILE_RE = re.compile(
    r"^(?:phase5_results_)?(?P<ts>[A-Za-z0-9][A-Za-z0-9._\-]*)_rank(?P<rank>\d+)\.(?:csv|txt)$"
)
_METRIC_COLUMNS = (
    "mar",
    "sharpe",
    "sortino",
    "profit_factor",
    "profit_dd",
    "robustness",
    "net_profit",
    "max_drawdown",
    "max_drawdown_pct",
    "cagr",
    "total_trades",
    "pct_profitable",
)
LABELS = {
    "composite_rank": "Composite Rank",
    "rank_sum": "Rank Sum",
    "plateau": "Plateau",
    "source": "Source File",
    "test": "Test",
    "mar": "MAR",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "profit_factor": "Profit Factor",
    "profit_dd": "Profit/DD",
    "robustness": "Robustness %",
    "net_profit": "Net Profit $",
    "max_drawdown": "Max DD $",
    "max_drawdown_pct": "Max DD %",
    "cagr": "CAGR %",
    "total_trades": "Trades",
    "pct_profitable": "% Profitable",
    "strategy": "Strategy",
    "n_results": "Results",
    "n_plateaus": "Plateaus",
    "inputs": "Inputs",
    **{f"rank_{m}": f"Rank {m.replace('_', ' ').title()}" for m in RANK_METRICS},
}
_FORMATS = {
    "net_profit": "#,##0.00",
    "max_drawdown": "#,##0.00",
    "mar": "0.00",
    "sharpe": "0.00",
    "sortino": "0.00",
    "profit_factor": "0.00",
    "profit_dd": "0.00",
    "robustness": "0.0",
    "max_drawdown_pct": "0.0",
    "cagr": "0.0",
    "pct_profitable": "0.0",
    "total_trades": "0",
    "rank_sum": "0.0",
    "composite_rank": "0",
    **{f"rank_{m}": "0.0" for m in RANK_METRICS},
}


@dataclass(frozen=True)
class RefinementReport:
    """Ranked tables per strategy, the summary and where the workbook went."""

    tables: dict[str, pd.DataFrame]  # ts_name -> all rows ranked, composite rank first
    summary: pd.DataFrame  # best row per strategy
    workbook: Path | None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("%", "pct"))


def _to_number(value: Any, file: Path, row: int, field: str) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip()
    if text in ("", "-", "n/a", "N/A", "NaN", "nan", "--"):
        return float("nan")
    negative = text.startswith("(") and text.endswith(")")
    cleaned = text.strip("()").replace("$", "").replace(",", "").replace("%", "").strip()
    try:
        number = float(cleaned)
    except ValueError:
        raise DataError(f"not a number: {text!r}", file=file, row=row, field=field) from None
    return -number if negative else number


def read_optimizer_file(path: str | Path) -> pd.DataFrame:
    """Read one optimizer export into canonical metric columns plus its input columns."""
    path = Path(path)
    match = _FILE_RE.match(path.name)
    if not match:
        raise DataError(
            "file name must be [phase5_results_]<TS-NAME>_rank<k>.csv (or .txt)", file=path
        )
    try:
        raw = pd.read_csv(path, sep=None, engine="python", dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse: {exc}", file=path) from None
    lookup = {alias: canon for canon, aliases in _ALIASES.items() for alias in aliases}
    mapped: dict[str, str] = {}
    inputs: list[str] = []
    for col in raw.columns:
        canon = lookup.get(_key(col))
        if canon is not None and canon not in mapped.values():
            mapped[col] = canon
        else:
            inputs.append(col)
    have = set(mapped.values())
    for name in _REQUIRED:
        if name not in have:
            raise DataError(
                f"missing column (accepted names: {', '.join(_ALIASES[name])})",
                file=path,
                field=name,
            )
    if "profit_factor" not in have and not {"gross_profit", "gross_loss"} <= have:
        raise DataError(
            "needs a Profit Factor column or Gross Profit and Gross Loss",
            file=path,
            field="profit_factor",
        )
    if raw.empty:
        raise DataError("no result rows", file=path)
    out = pd.DataFrame(index=raw.index)
    for col, canon in mapped.items():
        out[canon] = [_to_number(v, path, i + 2, str(col)) for i, v in enumerate(raw[col].tolist())]
    for col in inputs:
        numeric = pd.to_numeric(raw[col], errors="coerce")
        out[col] = numeric if numeric.notna().all() else raw[col]
    out.attrs["inputs"] = inputs
    out.attrs["ts_name"] = match["ts"]
    out.attrs["plateau"] = int(match["rank"])
    return out


def _finite(x: pd.Series | np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, np.nan)


def _metrics(frame: pd.DataFrame, source: str, plateau: int) -> pd.DataFrame:
    out = frame.copy()
    dd = np.abs(_finite(out["max_drawdown"]))
    dd_pct = np.abs(_finite(out["max_drawdown_pct"]))
    out["max_drawdown"] = dd
    out["max_drawdown_pct"] = dd_pct
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mar"] = _finite(out["cagr"].to_numpy() / dd_pct)
        out["profit_dd"] = _finite(out["net_profit"].to_numpy() / dd)
        if "profit_factor" not in out:
            out["profit_factor"] = _finite(
                out["gross_profit"].to_numpy() / np.abs(out["gross_loss"].to_numpy())
            )
    out["profit_factor"] = _finite(out["profit_factor"])
    profitable = out["net_profit"].to_numpy() > 0
    out["robustness"] = 100.0 * float(profitable.mean())
    out.insert(0, "plateau", plateau)
    out.insert(0, "source", source)
    return out


def rank_results(frame: pd.DataFrame) -> pd.DataFrame:
    """Add rank_<metric>, rank_sum and composite_rank (1 = best); return sorted by it."""
    out = frame.copy()
    for metric in RANK_METRICS:
        out[f"rank_{metric}"] = out[metric].rank(
            ascending=False, method="average", na_option="bottom"
        )
    out["rank_sum"] = out[[f"rank_{m}" for m in RANK_METRICS]].sum(axis=1)
    out["composite_rank"] = out["rank_sum"].rank(method="min").astype(np.int64)
    order = np.lexsort((np.arange(len(out)), out["rank_sum"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def _collect(files: Iterable[Path], base: Path | None = None) -> dict[str, pd.DataFrame]:
    per_strategy: dict[str, list[pd.DataFrame]] = {}
    inputs: dict[str, list[str]] = {}
    for path in sorted(files):
        frame = read_optimizer_file(path)
        ts = frame.attrs["ts_name"]
        source = path.relative_to(base).as_posix() if base is not None else path.name
        per_strategy.setdefault(ts, []).append(_metrics(frame, source, frame.attrs["plateau"]))
        names = inputs.setdefault(ts, [])
        names.extend(c for c in frame.attrs["inputs"] if c not in names)
    tables = {}
    for ts, frames in sorted(per_strategy.items()):
        ranked = rank_results(pd.concat(frames, ignore_index=True))
        ranks = [f"rank_{m}" for m in RANK_METRICS]
        metric_cols = [c for c in _METRIC_COLUMNS if c in ranked.columns]
        lead = ["composite_rank", "rank_sum", "plateau", "source"]
        if "test" in ranked.columns:
            lead.append("test")
        cols = lead + inputs[ts] + metric_cols + ranks
        table = ranked[cols]
        table.attrs["inputs"] = list(inputs[ts])
        tables[ts] = table
    return tables


def _summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for ts, table in tables.items():
        best = table.iloc[0]
        inputs = table.attrs.get("inputs", [])
        rows.append(
            {
                "strategy": ts,
                "n_results": len(table),
                "n_plateaus": int(table["source"].nunique()),
                "plateau": int(best["plateau"]),
                "source": best["source"],
                "inputs": "; ".join(f"{c}={best[c]}" for c in inputs),
                **{c: best[c] for c in _METRIC_COLUMNS if c in table.columns},
                "rank_sum": best["rank_sum"],
            }
        )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values(["mar", "sharpe"], ascending=False, na_position="last")
    return frame.reset_index(drop=True)


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "strategy"
    title, k = base, 2
    while title.lower() in used or title.lower() == "summary":
        suffix = f"~{k}"
        title, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(title.lower())
    return title


def _write_sheet(ws: Any, frame: pd.DataFrame, *, highlight_rank: bool) -> None:
    from openpyxl.formatting.rule import ColorScaleRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    columns = list(frame.columns)
    ws.append([LABELS.get(c, str(c)) for c in columns])
    for values in frame.itertuples(index=False):
        ws.append([_cell(v) for v in values])
    n_rows = len(frame) + 1
    header_fill = PatternFill("solid", fgColor="1F4E78")
    for j, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = max(10, min(28, len(str(cell.value)) + 4))
        fmt = _FORMATS.get(col)
        if fmt and n_rows > 1:
            for row in ws.iter_rows(min_row=2, max_row=n_rows, min_col=j, max_col=j):
                row[0].number_format = fmt
        if col in _METRIC_COLUMNS and n_rows > 1:
            rng = f"{letter}2:{letter}{n_rows}"
            good_high = col not in ("max_drawdown", "max_drawdown_pct")
            low, high = ("F8696B", "63BE7B") if good_high else ("63BE7B", "F8696B")
            ws.conditional_formatting.add(
                rng,
                ColorScaleRule(
                    start_type="min",
                    start_color=low,
                    mid_type="percentile",
                    mid_value=50,
                    mid_color="FFEB84",
                    end_type="max",
                    end_color=high,
                ),
            )
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{n_rows}"
    if highlight_rank and "composite_rank" in columns and n_rows > 1:
        j = columns.index("composite_rank") + 1
        rank_fill = PatternFill("solid", fgColor="FFF2CC")
        best_fill = PatternFill("solid", fgColor="C6EFCE")
        for i in range(2, n_rows + 1):
            cell = ws.cell(row=i, column=j)
            cell.font = Font(bold=True)
            cell.fill = rank_fill
            if cell.value == 1:
                for k in range(1, len(columns) + 1):
                    if k != j:
                        ws.cell(row=i, column=k).fill = best_fill


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_workbook(
    tables: dict[str, pd.DataFrame], summary: pd.DataFrame, path: str | Path, *, top: int = 50
) -> Path:
    """Write the summary sheet and one sheet per strategy (top rows) atomically."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    _write_sheet(ws, summary, highlight_rank=False)
    used = {"summary"}
    for ts, table in tables.items():
        sheet = wb.create_sheet(_sheet_title(ts, used))
        _write_sheet(sheet, table.head(top), highlight_rank=True)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)


def analyze_refinement(
    symbol: str,
    *,
    results_root: str | Path = "results",
    input_dir: str | Path | None = None,
    files: Sequence[str | Path] | None = None,
    top: int = 50,
    job: Any | None = None,
) -> RefinementReport:
    """Rank the optimizer results of `symbol` and write `Refinement_Analysis_<SYMBOL>.xlsx`.

    Reads `files`, else every `*.csv`/`*.txt` in `input_dir` (default
    `<results_root>/<SYMBOL>/phase5_results`) and its sub-folders (one per sweep). The workbook
    goes to `<results_root>/<SYMBOL>/`.
    With a `job`, the workbook is logged as an artifact and each strategy's best row as a
    child run `refinement <TS-NAME>` (its inputs as params, its metrics as metrics).
    """
    validate_symbol(symbol)
    if top < 1:
        raise ValueError("top must be positive")
    out_dir = Path(results_root) / symbol
    if files is None:
        folder = Path(input_dir) if input_dir is not None else out_dir / "phase5_results"
        if not folder.is_dir():
            raise DataError("refinement results folder does not exist", file=folder)
        paths = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix in (".csv", ".txt")
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if not paths:
            raise DataError("no optimizer result files (*.csv, *.txt)", file=folder)
        base: Path | None = folder
    else:
        paths, base = [Path(p) for p in files], None
    tables = _collect(paths, base)
    summary = _summary(tables)
    out_dir.mkdir(parents=True, exist_ok=True)
    workbook = write_workbook(
        tables, summary, out_dir / f"Refinement_Analysis_{symbol}.xlsx", top=top
    )
    if job is not None:
        job.log_artifact(workbook, "reports")
        for row in summary.itertuples(index=False):
            with job.child(
                f"refinement {row.strategy}", tags={"kind": "refinement", "ts_name": row.strategy}
            ) as child:
                child.log_params(
                    {"source": row.source, "plateau": row.plateau, "inputs": row.inputs}
                )
                child.log_metrics(
                    {
                        m: float(getattr(row, m))
                        for m in (*RANK_METRICS, "net_profit", "max_drawdown", "cagr")
                        if math.isfinite(float(getattr(row, m)))
                    }
                )
    return RefinementReport(tables, summary, workbook)
