"""Plateau map: the (x, y) cells of the candidates, coloured by plateau."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tradelab.atomic import atomic_path
from tradelab.wfo.plateaus import PlateauResult

__all__ = ["plateau_figure", "save_plateau_plot"]

_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
)


_UNCLUSTERED: tuple[tuple[int, dict[str, Any], str], ...] = (
    (-2, {"c": "#dddddd", "marker": "s"}, "too few combinations"),
    (
        -3,
        {"facecolors": "none", "edgecolors": "#888888", "marker": "s"},
        "dense, score below the cut",
    ),
    (-1, {"c": "#888888", "marker": "x"}, "dense, no plateau"),
)
"""Cells outside every plateau (`PlateauResult.cells` labels): style and legend."""


def plateau_figure(result: PlateauResult, *, title: str = "") -> Any:
    """Return a matplotlib Figure of the cells: size ~ count, colour = plateau, grey = none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cells = result.cells
    if len(cells):
        count = cells["count"].to_numpy(dtype=np.float64)
        size = 15.0 + 185.0 * count / max(count.max(), 1.0)
        label = cells["label"].to_numpy()
        for value, style, text in _UNCLUSTERED:
            mine = label == value
            if mine.any():
                ax.scatter(cells["x"][mine], cells["y"][mine], s=size[mine], label=text, **style)
        for plateau in result.plateaus:
            mine = label == plateau.label
            ax.scatter(
                cells["x"][mine],
                cells["y"][mine],
                s=size[mine],
                c=_PALETTE[(plateau.rank - 1) % len(_PALETTE)],
                marker="s",
                edgecolors="black",
                linewidths=0.4,
                label=f"plateau {plateau.rank} {plateau.regime} ({plateau.n_combos} combos)",
            )
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no candidates", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(result.x)
    ax.set_ylabel(result.y)
    ax.set_title(title or result.message, fontsize=9)
    ax.grid(True, alpha=0.3)
    return fig


def save_plateau_plot(result: PlateauResult, path: str | Path, *, title: str = "") -> Path:
    """Write the plateau map as a PNG atomically; return the path."""
    fig = plateau_figure(result, title=title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)
