"""`tradelab-wfo ... check=bias`: look-ahead and warmup checks on the user's data and settings.

For the configured symbol (and symbol2), strategy (and its expansion) and grid: combinations
sampled from the grid are run on the data and on copies whose bars after several cut points
are replaced (look-ahead), and every phase's indicators are recomputed with more history than
its warmup (warmup sensitivity). A pass/fail table goes to the terminal; one run `bias-check`
in `wfo/<target>` carries the metrics (`lookahead_violations`, `warmup_max_rel_diff`, ...), a
child run per strategy and the JSON report `bias_report.json`. A failed check exits with 1.

Settings (optional, e.g. `+bias.tolerance=0.1`): `n_combos` (16), `n_cuts` (3),
`extra_bars` (500), `tolerance` (0.05, largest relative indicator difference), `seed` (the
job's seed).
"""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tradelab.apps._runtime import job_for, tracker_for
from tradelab.errors import ConfigError
from tradelab.robustness.bias import BiasReport, wfo_bias_check
from tradelab.settings import to_plain
from tradelab.wfo import (
    expanded_specs,
    grid_for_strategy,
    grid_from_config,
    phases_from_config,
    strategy_from_config,
)

__all__ = ["BIAS_DEFAULTS", "bias_settings", "print_reports", "run_bias_check"]

log = logging.getLogger("tradelab.wfo")

BIAS_DEFAULTS: dict[str, float | int] = {
    "n_combos": 16,
    "n_cuts": 3,
    "extra_bars": 500,
    "tolerance": 0.05,
}


def bias_settings(cfg: DictConfig) -> dict[str, Any]:
    """Read the optional `bias` block over `BIAS_DEFAULTS` (seed: the job's seed)."""
    given = OmegaConf.select(cfg, "bias", default=None)
    raw = to_plain(given) if given is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError("bias", "must be a mapping of check settings")
    settings: dict[str, Any] = {**BIAS_DEFAULTS, "seed": int(cfg.seed)}
    for key, value in raw.items():
        if value is None:
            continue
        if key not in settings:
            raise ConfigError(f"bias.{key}", f"unknown setting; known: {sorted(settings)}")
        try:
            settings[key] = float(value) if key == "tolerance" else int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"bias.{key}", f"must be a number, got {value!r}") from None
    for key in ("n_combos", "n_cuts", "extra_bars"):
        if settings[key] < 1:
            raise ConfigError(f"bias.{key}", f"must be >= 1, got {settings[key]}")
    if not settings["tolerance"] >= 0:
        raise ConfigError("bias.tolerance", f"must be >= 0, got {settings['tolerance']}")
    return settings


def print_reports(reports: list[BiasReport]) -> None:
    """Print the pass/fail table of every check."""
    from rich.console import Console
    from rich.table import Table

    colour = {"PASS": "green", "FAIL": "bold red", "SKIP": "yellow"}
    for report in reports:
        table = Table(title=f"bias checks: {report.target} {report.strategy}", show_lines=False)
        for column in ("check", "subject", "result", "detail"):
            table.add_column(column, overflow="fold")
        for check, subject, result, detail in report.rows():
            style = colour.get(result.split(" ")[0], "")
            table.add_row(check, subject, f"[{style}]{result}[/]" if style else result, detail)
        Console(width=160).print(table)
    failed = [r.strategy for r in reports if not r.passed]
    verdict = f"[bold red]FAIL[/] ({', '.join(failed)})" if failed else "[bold green]PASS[/]"
    Console().print(f"bias checks: {verdict}")


def run_bias_check(cfg: DictConfig) -> float:
    """Run the checks for the configured strategies; return the number of failed checks.

    Exits with status 1 (after logging the run) when any check fails.
    """
    from tradelab.apps.wfo import _choice, _strategy_yaml, load_data

    settings = bias_settings(cfg)
    data, target, data_hash = load_data(cfg)
    primary = strategy_from_config(to_plain(cfg.strategy))
    specs = expanded_specs(primary, _strategy_yaml) if cfg.expand else [primary]
    if data.close2 is None:
        if primary.dual:
            raise ConfigError(
                "symbol2", f"{primary.name} trades data1 with BB width from data2: set symbol2"
            )
        specs = [s for s in specs if not s.dual]
    grid_all = grid_from_config(to_plain(cfg.grid)["params"])
    grid_name = str(cfg.grid.name or _choice("grid"))
    phases = phases_from_config(to_plain(cfg.phases), data.timestamps)

    reports = []
    for spec in specs:
        grid = grid_for_strategy(grid_all, spec)
        reports.append(
            wfo_bias_check(
                data,
                spec,
                grid,
                phases,
                target=target,
                n_combos=settings["n_combos"],
                n_cuts=settings["n_cuts"],
                extra_bars=settings["extra_bars"],
                tolerance=settings["tolerance"],
                seed=settings["seed"],
            )
        )
    print_reports(reports)

    totals = _combined(reports)
    tracker = tracker_for(cfg)
    with job_for(tracker, cfg, experiment=f"wfo/{target}", run_name="bias-check",
                 data_hash=data_hash) as job:  # fmt: skip
        job.set_tags({"family": "wfo", "target": target, "check": "bias", "strategy": primary.name,
                      "grid": grid_name, "bias_passed": str(totals["bias_passed"] == 1.0).lower()})  # fmt: skip
        job.log_params({**settings, "strategies": [s.name for s in specs], "grid": grid_name,
                        "phases": [p.name for p in phases], "symbol": cfg.symbol, "symbol2": cfg.symbol2})  # fmt: skip
        job.log_metrics(totals)
        for report in reports:
            with job.child(
                report.strategy, tags={"strategy": report.strategy, "check": "bias"}
            ) as child:
                child.log_metrics(report.metrics())
        job.log_dict({"target": target, "grid": grid_name, "passed": totals["bias_passed"] == 1.0,
                      "metrics": totals, "strategies": [r.to_dict() for r in reports]},
                     "bias_report.json")  # fmt: skip
    failed = int(totals["bias_checks_failed"])
    if failed:
        log.error("%s: %d bias check(s) failed", target, failed)
        raise SystemExit(1)
    return float(failed)


def _combined(reports: list[BiasReport]) -> dict[str, float]:
    """Aggregate the per-strategy metrics: counts summed, the worst difference kept."""
    per = [r.metrics() for r in reports]
    out: dict[str, float] = {}
    for key in per[0]:
        values = [m[key] for m in per if m[key] == m[key]]
        if key in ("warmup_max_rel_diff", "warmup_tolerance"):
            out[key] = max(values, default=float("nan"))
        elif key == "bias_passed":
            out[key] = float(all(v == 1.0 for v in values))
        else:
            out[key] = float(sum(values))
    return out
