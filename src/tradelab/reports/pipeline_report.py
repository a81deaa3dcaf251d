"""The run summary of a pipeline: champions and their equity curves, WFO plateaus, Kalman and
forecast results, the research-validity statistics of every sweep — as Markdown and HTML with
the figures beside them, ready to be logged to MLflow.

Inputs are the files the apps write (`results/`, `metrics/`, `production/promotions.jsonl`)
and, for the champions, the model registry and the Parquet store.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from tradelab import faults
from tradelab.atomic import atomic_path, write_table
from tradelab.promotion.production import read_audit
from tradelab.reports.files import read_wfo_headlines
from tradelab.tracking.base import VALIDITY

__all__ = ["Report", "build_report"]

log = logging.getLogger(__name__)
FIGURE_WRITTEN = faults.declare(
    "report.figure", "the pipeline report after the k-th figure, before the next (@k)"
)
MARKDOWN_WRITTEN = faults.declare(
    "report.summary", "the pipeline report after summary.md, before summary.html"
)


@dataclass
class Report:
    """What was written: the Markdown and HTML summaries and the figures they show."""

    markdown: Path
    html: Path
    figures: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


@dataclass
class _Doc:
    blocks: list[tuple[str, Any]] = field(default_factory=list)  # (kind, payload)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("t", frame))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(("f", (path, caption)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value.is_integer() and abs(value) < 1e12:
            return str(int(value))  # counts (combinations, trials) in full
        return f"{value:.4g}"
    return str(value)


def _markdown(doc: _Doc, root: Path) -> str:
    out = []
    for kind, payload in doc.blocks:
        if kind == "h":
            out.append(f"{'#' * payload[0]} {payload[1]}\n")
        elif kind == "p":
            out.append(f"{payload}\n")
        elif kind == "t":
            frame = payload
            out.append("| " + " | ".join(map(str, frame.columns)) + " |")
            out.append("|" + "---|" * len(frame.columns))
            for row in frame.itertuples(index=False):
                out.append("| " + " | ".join(_fmt(v) for v in row) + " |")
            out.append("")
        else:
            path, caption = payload
            out.append(f"![{caption}]({path.relative_to(root)})\n")
    return "\n".join(out) + "\n"


def _html(doc: _Doc, title: str) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}th{background:#f3f3f3}img{max-width:100%;"
        "border:1px solid #eee}</style></head><body>",
    ]
    for kind, payload in doc.blocks:
        if kind == "h":
            parts.append(f"<h{payload[0]}>{html.escape(payload[1])}</h{payload[0]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(payload)}</p>")
        elif kind == "t":
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in payload.columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                for row in payload.itertuples(index=False)
            )
            parts.append(f"<table><tr>{head}</tr>{rows}</table>")
        else:
            path, caption = payload
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(
                f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    faults.fault(FIGURE_WRITTEN)
    return path


def _include(path: Path, fig_dir: Path, name: str) -> Path:
    """Copy a figure an app wrote into the report's figures folder (links stay relative)."""
    target = fig_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(path.read_bytes())
    faults.fault(FIGURE_WRITTEN)
    return target


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _champions(production_dir: Path) -> pd.DataFrame:
    """The current champion of every (family, target), replayed from the audit log."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for record in read_audit(production_dir):
        if record.get("action") in ("promote", "rollback", "reconcile") and record.get("champion"):
            key = (record["family"], record["target"])
            previous = state.get(key, {})
            state[key] = {
                "family": key[0],
                "target": key[1],
                "version": record["champion"],
                "since": record.get("time", ""),
                "action": record["action"],
                "source_run": record.get("source_run") or previous.get("source_run", ""),
            }
    return pd.DataFrame(list(state.values()))


def _equity_section(
    doc: _Doc,
    champions: pd.DataFrame,
    registry: Any,
    store: Any,
    fig_dir: Path,
    plot_dir: Path,
    figures: list[Path],
) -> None:
    from tradelab.promotion import family

    curves: dict[str, pd.Series] = {}
    for row in champions.itertuples(index=False):
        try:
            spec = family(row.family)
            if spec.report_bars is None:
                continue
            config = registry.config_of(row.family, row.target, str(row.version))
            out = spec.predict(config, spec.report_bars(config, store))
        except Exception as exc:  # a report must not die because one champion cannot be drawn
            log.warning("equity curve of %s/%s skipped: %s", row.family, row.target, exc)
            continue
        column = (
            "equity" if "equity" in out.columns else "value" if "value" in out.columns else None
        )
        if column is None or out[column].iloc[0] == 0:
            continue
        curves[f"{row.family}/{row.target}"] = pd.Series(
            out[column].to_numpy() / out[column].iloc[0], index=pd.DatetimeIndex(out["timestamp"])
        )
    for name, curve in curves.items():  # the series `dvc plots show` draws
        series = pd.DataFrame({"date": curve.index.strftime("%Y-%m-%d"), "equity": curve.values})
        write_table(series, plot_dir / "equity" / f"{name.replace('/', '_')}.csv")
    if not curves:
        doc.text("No strategy champion to draw (promote one with tradelab-promote).")
        return
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, curve in curves.items():
        ax.plot(curve.index, curve.to_numpy(), label=name, lw=1.2)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("equity (start = 1)")
    ax.set_title("Champions: equity on their data")
    ax.legend(fontsize=8)
    figures.append(_save(fig, fig_dir / "champion_equity.png"))
    doc.figure(figures[-1], "Equity of every strategy champion, normalised to 1 at the start")


def _forecast_section(
    doc: _Doc, results_dir: Path, fig_dir: Path, plot_dir: Path, figures: list[Path]
) -> None:
    rows = []
    for path in sorted((results_dir / "forecast").glob("*/summary.json")):
        data = _read_json(path) or {}
        for name, cand in (data.get("candidates") or {}).items():
            rows.append(
                {
                    "symbol": data.get("symbol"),
                    "candidate": name,
                    "kind": cand.get("kind"),
                    "pct_return_mae": cand.get("pct_return_mae"),
                    "skill_vs_zero": cand.get("skill_vs_zero"),
                }
            )
    columns = ["symbol", "candidate", "kind", "pct_return_mae", "skill_vs_zero"]
    table = pd.DataFrame(rows, columns=columns)
    series = table.assign(candidate=table["symbol"].astype(str) + " " + table["candidate"])
    write_table(series, plot_dir / "forecast_errors.csv")  # what `dvc plots show` draws
    if not rows:
        return
    doc.heading("Forecast error by model and symbol")
    pivot = table.pivot(index="symbol", columns="candidate", values="pct_return_mae")
    fig, ax = plt.subplots(figsize=(10, 4))
    pivot.plot.bar(ax=ax)
    ax.set_ylabel("pct_return_mae (lower is better)")
    ax.set_title("Forecast error on the validation windows")
    ax.legend(fontsize=8)
    figures.append(_save(fig, fig_dir / "forecast_error.png"))
    doc.figure(figures[-1], "pct_return_mae of every model and baseline, per symbol")
    best = table.loc[table.groupby("symbol")["pct_return_mae"].idxmin()]
    doc.table(best[["symbol", "candidate", "kind", "pct_return_mae", "skill_vs_zero"]])


def _kalman_section(doc: _Doc, results_dir: Path, fig_dir: Path, figures: list[Path]) -> None:
    residual = []
    for path in sorted((results_dir / "kalman_residual").glob("*/metrics.json")):
        m = _read_json(path) or {}
        residual.append(
            {
                "symbol": path.parent.name,
                **{
                    k: m.get(k, math.nan)
                    for k in (
                        "score",
                        "total_return",
                        "sharpe",
                        "max_drawdown",
                        "num_trades",
                        *_VALIDITY_COLUMNS[:2],
                    )
                },
            }
        )
    if residual:
        doc.heading("Kalman residual mean reversion (small caps)")
        summary = results_dir / "kalman_residual" / "summary.png"
        if summary.exists():
            figures.append(_include(summary, fig_dir, "kalman_residual_summary.png"))
            doc.figure(
                figures[-1], "Best return by symbol (20% target line) and Sharpe against return"
            )
        frame = pd.DataFrame(residual).sort_values("score", ascending=False).head(12)
        doc.table(frame)
    pairs = []
    for path in sorted((results_dir / "kalman_pairs").glob("*/metrics.json")):
        m = _read_json(path) or {}
        pairs.append(
            {
                "pair": path.parent.name,
                **{
                    k: m.get(k, math.nan)
                    for k in (
                        "sharpe",
                        "total_return",
                        "max_dd_pct",
                        "num_trades",
                        *_VALIDITY_COLUMNS[:2],
                    )
                },
            }
        )
    if pairs:
        doc.heading("Kalman pairs")
        doc.table(pd.DataFrame(pairs))


_WFO_COLUMNS = (
    "combinations",
    "stable",
    "best_stability_score",
    "plateaus",
    "benchmark_return",
    f"{VALIDITY}pbo",
    f"{VALIDITY}deflated_sharpe",
)
_VALIDITY_COLUMNS = tuple(
    VALIDITY + k for k in ("pbo", "deflated_sharpe", "n_trials", "effective_trials")
)


def _number(value: Any) -> Any:
    """Return a metric value for a table cell: null (a NaN in the JSON) becomes NaN ("-")."""
    return math.nan if value is None else value


def _metric_sets(
    data: Any, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Return every dict of metrics in a metrics file, with the keys that lead to it.

    The families' files are flat (`kalman_pairs.json`); a level in between reads the same.
    """
    if not isinstance(data, dict):
        return []
    nested = [(k, v) for k, v in data.items() if isinstance(v, dict)]
    if not nested:
        return [(path, data)] if data else []
    out = []
    for key, value in nested:
        out.extend(_metric_sets(value, (*path, str(key))))
    return out


def _family_of(path: Path) -> str:
    """Return `wfo` for `wfo_<TARGET>.json` (or `wfo.json`), else the file's stem."""
    return "wfo" if path.stem == "wfo" or path.stem.startswith("wfo_") else path.stem


def _wfo_rows(results_dir: Path) -> list[dict[str, Any]]:
    """One row per strategy of each target's latest WFO job (`results/<T>/headline.json`)."""
    rows = []
    for target, strategies in read_wfo_headlines(results_dir).items():
        for strategy, m in strategies.items():
            rows.append(
                {
                    "target": target,
                    "strategy": strategy,
                    **{k: _number(m.get(k, math.nan)) for k in _WFO_COLUMNS},
                }
            )
    return rows


def _plateau_plots(results_dir: Path) -> list[tuple[Path, str]]:
    """Return the plateau plots of every WFO target, as (file, caption):
    `results/<T>/plateaus_*.png`, or in a subfolder of `results/<T>/` (results keyed by grid)."""
    found = sorted(results_dir.glob("*/**/plateaus_*.png"))
    out = []
    for path in found:
        parts = path.relative_to(results_dir).parts
        what = "/".join((*parts[1:-1], path.stem.removeprefix("plateaus_")))
        out.append((path, f"Plateaus of {parts[0]}: {what}"))
    return out


def _wfo_section(doc: _Doc, results_dir: Path, fig_dir: Path, figures: list[Path]) -> None:
    plots = _plateau_plots(results_dir)
    rows = _wfo_rows(results_dir)
    if not plots and not rows:
        return
    doc.heading("Walk-forward optimization")
    if rows:
        doc.table(pd.DataFrame(rows))
    for path, caption in plots:
        name = "_".join(path.relative_to(results_dir).parts)
        figures.append(_include(path, fig_dir, name))
        doc.figure(figures[-1], caption)


def _validity_rows(results_dir: Path, metrics_dir: Path) -> list[dict[str, Any]]:
    """Return one row per sweep that logged PBO / deflated Sharpe: each WFO target's strategies
    (`results/<T>/headline.json`), then in every other metrics file of the apps, or, for a family
    that also writes one file per target (`results/<family>/<target>/metrics.json`: the Kalman
    families), in those files."""
    found: list[dict[str, Any]] = [
        {"sweep": f"wfo/{target} {strategy}", "metrics": m}
        for target, strategies in read_wfo_headlines(results_dir).items()
        for strategy, m in strategies.items()
    ]
    families = {_family_of(p) for p in metrics_dir.glob("*.json")} - {"wfo"}
    per_target: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(results_dir.glob("*/*/metrics.json")):
        family, target = path.parent.parent.name, path.parent.name
        if family not in families:
            continue
        per_target.setdefault(family, []).append(
            {"sweep": f"{family}/{target}", "metrics": _read_json(path)}
        )
    for path in sorted(metrics_dir.glob("*.json")):
        family = _family_of(path)
        if family in per_target or family == "wfo":
            continue
        for keys, m in _metric_sets(_read_json(path)):
            name = f"{family}/{keys[0]}" if keys else family
            found.append({"sweep": " ".join((name, *keys[1:])), "metrics": m})
    for entries in per_target.values():
        found.extend(entries)
    rows = []
    for entry in found:
        m = entry["metrics"]
        if isinstance(m, dict) and any(k in m for k in _VALIDITY_COLUMNS[:2]):
            values = {k: _number(m.get(k, math.nan)) for k in _VALIDITY_COLUMNS}
            rows.append({"sweep": entry["sweep"], **values})
    return rows


def _validity_section(doc: _Doc, results_dir: Path, metrics_dir: Path) -> None:
    rows = _validity_rows(results_dir, metrics_dir)
    doc.heading("Is it luck? Research-validity statistics")
    doc.text(
        "PBO: how often the in-sample winner lands in the bottom half out of sample "
        "(<= 0.5 wanted). Deflated Sharpe: confidence that the winner's Sharpe beats the best "
        "of N lucky trials (>= 0.95 wanted)."
    )
    if rows:
        doc.table(pd.DataFrame(rows))
    else:
        doc.text("No sweep logged PBO / deflated Sharpe yet.")
    if (metrics_dir / "forecast.json").exists():
        doc.text(
            "Forecast tuning is judged against the zero-return baseline (skill_vs_zero above), "
            "not by PBO / deflated Sharpe."
        )


def build_report(
    *,
    results_dir: str | Path,
    metrics_dir: str | Path,
    production_dir: str | Path,
    out_dir: str | Path,
    store: Any = None,
    registry: Any = None,
    title: str = "tradelab pipeline run",
) -> Report:
    """Write `summary.md`, `summary.html` and `figures/*.png` into `out_dir`; with `registry`
    (the `MlflowRegistry` of the tracker's store) and `store`, the champions' equity too."""
    results, metrics, production, out = (
        Path(results_dir),
        Path(metrics_dir),
        Path(production_dir),
        Path(out_dir),
    )
    fig_dir, plot_dir = out / "figures", out / "plots"
    (plot_dir / "equity").mkdir(parents=True, exist_ok=True)
    for old in (plot_dir / "equity").glob("*.csv"):  # champions of an earlier report
        old.unlink()
    figures: list[Path] = []
    doc = _Doc()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc.heading(title, 1)
    doc.text(f"Generated {stamp}.")
    doc.heading("Champions")
    champions = _champions(production)
    if champions.empty:
        doc.text(
            "No champion yet: nothing has passed the promotion gates "
            "(see the promotion runs in MLflow)."
        )
    else:
        doc.table(champions)
        if registry is not None and store is not None:
            _equity_section(doc, champions, registry, store, fig_dir, plot_dir, figures)
    _wfo_section(doc, results, fig_dir, figures)
    _kalman_section(doc, results, fig_dir, figures)
    _forecast_section(doc, results, fig_dir, plot_dir, figures)
    _validity_section(doc, results, metrics)
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "summary.md"
    with atomic_path(markdown) as tmp:
        tmp.write_text(_markdown(doc, out), encoding="utf-8")
    faults.fault(MARKDOWN_WRITTEN)
    page = out / "summary.html"
    with atomic_path(page) as tmp:
        tmp.write_text(_html(doc, title), encoding="utf-8")
    return Report(markdown, page, figures, [b[1][1] for b in doc.blocks if b[0] == "h"])
