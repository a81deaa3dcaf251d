"""Figures for the studies, built with matplotlib's object API (no pyplot global state)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["equity_figure", "residual_summary_figure"]


def equity_figure(times: pd.DatetimeIndex, equity: np.ndarray, title: str) -> Figure:
    """Plot an equity curve."""
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    ax.plot(times, equity, lw=1.0, color="tab:blue")
    ax.set_title(title)
    ax.set_ylabel("Equity")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def residual_summary_figure(
    results: Mapping[str, Mapping[str, float]], target_return: float = 0.20
) -> Figure:
    """Seed 000's summary: returns by symbol with the target line; Sharpe against return."""
    items = sorted(results.items(), key=lambda kv: kv[1]["total_return"], reverse=True)
    symbols = [k for k, _ in items]
    returns = [v["total_return"] * 100 for _, v in items]
    sharpes = [v["sharpe_ratio"] for _, v in items]
    target = target_return * 100
    colors = ["green" if r > target else "blue" if r > 0 else "red" for r in returns]
    fig = Figure(figsize=(14, 5))
    left, right = fig.subplots(1, 2)
    left.barh(symbols, returns, color=colors)
    left.axvline(x=target, color="gold", linestyle="--", label=f"{target:g}% target")
    left.set_xlabel("Return (%)")
    left.set_title("Returns by Symbol")
    left.legend()
    right.scatter(returns, sharpes, c=returns, cmap="RdYlGn", s=100)
    right.axvline(x=target, color="gold", linestyle="--", label=f"{target:g}% target")
    right.set_xlabel("Return (%)")
    right.set_ylabel("Sharpe Ratio")
    right.set_title("Risk-Adjusted Performance")
    fig.tight_layout()
    return fig
