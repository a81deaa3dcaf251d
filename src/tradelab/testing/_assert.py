"""Small assertion helpers, so the contract suites run without importing pytest."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

__all__ = ["raises"]


@contextlib.contextmanager
def raises(
    kind: type[BaseException] | tuple[type[BaseException], ...], match: str | None = None
) -> Iterator[None]:
    """Fail unless the block raises `kind` (with a message matching `match`, when given)."""
    try:
        yield
    except kind as exc:
        if match is not None and not re.search(match, str(exc)):
            raise AssertionError(f"{type(exc).__name__}({exc!s}) does not match {match!r}") from exc
        return
    raise AssertionError(f"expected {kind} to be raised")
