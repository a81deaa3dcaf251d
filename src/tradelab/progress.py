"""Progress bars for long work (rich, on stderr), as plain callbacks library code can take."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ProgressDisplay", "progress_callback"]


class ProgressDisplay:
    """One live display of rich progress bars (on stderr), or nothing when disabled.

    Each bar shows its description, completion, `unit` and a free-text note (e.g. a rate).
    Use as a context manager; `task(...)` adds a bar, `update(...)` moves it.
    """

    def __init__(self, enabled: bool, unit: str = "") -> None:
        self._bar: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )

    def __enter__(self) -> ProgressDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def task(self, description: str, total: int | None = None, done: int = 0) -> Any:
        """Add a bar; returns its handle (None when disabled)."""
        if self._bar is None:
            return None
        return self._bar.add_task(description, total=total, completed=done, note="")

    def update(
        self,
        task: Any,
        *,
        done: int | None = None,
        total: int | None = None,
        advance: int | None = None,
        note: str | None = None,
    ) -> None:
        """Set a bar's completion (`done`) or move it by `advance`; optionally its total/note."""
        if self._bar is None or task is None:
            return
        fields: dict[str, Any] = {}
        if note is not None:
            fields["note"] = note
        self._bar.update(task, completed=done, total=total, advance=advance, **fields)


@contextlib.contextmanager
def progress_callback(
    description: str, *, enabled: bool = True, unit: str = "items"
) -> Iterator[Callable[[int, int], None]]:
    """Yield `update(done, total)` that drives one progress bar (a no-op when disabled)."""
    with ProgressDisplay(enabled, unit) as display:
        task = display.task(description)

        def update(done: int, total: int) -> None:
            display.update(task, done=done, total=total)

        yield update
