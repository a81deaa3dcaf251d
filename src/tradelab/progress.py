"""Progress bars for long work (rich, on stderr), as plain callbacks library code can take."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ProgressDisplay", "progress_callback"]


class ProgressDisplay:
    """One live display of rich progress bars (on stderr), or nothing when disabled.

    Each bar shows its description, completion, `unit` and a free-text note (e.g. a rate).
    Use as a context manager; `task(...)` adds a bar, `update(...)` moves it. On a stderr that
    is not a terminal (a log file, CI, a pipe) no bar is drawn: each task prints one line when
    it completes (`<description>: <done>/<total> <unit> in <s> s <note>`).
    """

    def __init__(self, enabled: bool, unit: str = "") -> None:
        self._bar: Any = None
        self._lines: dict[int, dict[str, Any]] | None = None
        self._unit = unit
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

        console = Console(stderr=True)
        if not console.is_terminal:
            self._lines = {}
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )

    def __enter__(self) -> ProgressDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def task(
        self, description: str, total: int | None = None, done: int = 0, *, each: bool = False
    ) -> Any:
        """Add a bar; returns its handle (None when disabled). Without a terminal, a task
        prints its line when it completes, or at every step with `each` (a few long steps,
        such as one study per symbol)."""
        if self._lines is not None:
            handle = len(self._lines)
            self._lines[handle] = {
                "description": description,
                "total": total,
                "done": done,
                "note": "",
                "start": time.perf_counter(),
                "said": False,
                "each": each,
            }
            self._line(handle, None, None, None, None)  # e.g. a phase already in the cache
            return handle
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
        if self._lines is not None and task is not None:
            self._line(task, done, total, advance, note)
            return
        if self._bar is None or task is None:
            return
        fields: dict[str, Any] = {}
        if note is not None:
            fields["note"] = note
        self._bar.update(task, completed=done, total=total, advance=advance, **fields)

    def _line(
        self, task: int, done: int | None, total: int | None, advance: int | None, note: str | None
    ) -> None:
        """Track a task without a terminal; print its one line once it completes."""
        state = self._lines[task]  # type: ignore[index]
        if total is not None:
            state["total"] = total
        if done is not None:
            state["done"] = done
        if advance:
            state["done"] += advance
        if note is not None:
            state["note"] = note
        finished = state["total"] is not None and state["done"] >= state["total"]
        if (finished and not state["said"]) or (state["each"] and advance):
            state["said"] = finished
            seconds = time.perf_counter() - state["start"]
            text = (
                f"{state['description']}: {state['done']:,}/{state['total']:,} {self._unit} "
                f"in {seconds:.1f} s {state['note']}"
            )
            print(text.rstrip(), file=sys.stderr, flush=True)


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
