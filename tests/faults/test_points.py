"""The fault points themselves: enough of them, each crashed by a test, each in the README.

The points are collected from the modules that declare them (imported here), so a point added
without a crash test or a README row fails this file.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tradelab import faults

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "src"
CRASH_TESTS = [*(ROOT / "tests/faults").glob("test_*.py"), ROOT / "tests/promotion/test_service.py"]


def _declaring_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(SOURCES).with_suffix("").parts)
        for path in (SOURCES / "tradelab").rglob("*.py")
        if "faults.declare(" in path.read_text()
    )


def _points() -> dict[str, str]:
    for module in _declaring_modules():
        importlib.import_module(module)
    return {k: v for k, v in faults.POINTS.items() if not k.startswith(("test.", "x."))}


POINTS = _points()


def _readme_rows() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What survives a crash", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.MULTILINE))


def test_there_are_at_least_twenty_points_across_the_product() -> None:
    assert len(POINTS) >= 20, sorted(POINTS)
    areas = {point.split(".")[0] for point in POINTS}
    assert {"ingest", "wfo", "optuna", "promotion", "report"} <= areas


@pytest.mark.parametrize("point", sorted(POINTS))
def test_each_point_is_crashed_by_a_test(point: str) -> None:
    quoted = re.compile(rf"[\"']{re.escape(point)}[\"'@:]")
    assert any(quoted.search(path.read_text()) for path in CRASH_TESTS), (
        f"no test in tests/faults crashes {point}"
    )


def test_the_readme_table_lists_exactly_the_declared_points() -> None:
    assert _readme_rows() == set(POINTS)
