"""Progress bars for long work (rich), as plain callbacks library code can take."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["progress_callback"]


@contextlib.contextmanager
def progress_callback(
    description: str, *, enabled: bool = True, unit: str = "items"
) -> Iterator[Callable[[int, int], None]]:
    """Yield `update(done, total)` that drives a rich progress bar (a no-op when disabled)."""
    if not enabled:
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=not sys.stderr.isatty(), disable=not enabled) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
