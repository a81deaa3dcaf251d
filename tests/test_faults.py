"""The fault-point switch itself: off by default, the n-th call, raise or hard exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tradelab import faults

POINT = faults.declare("test.point", "a point the tests of the switch use")


def test_unset_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV, raising=False)
    for _ in range(3):
        faults.fault(POINT)


def test_raise_on_the_nth_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_hits", {})
    monkeypatch.setenv(faults.ENV, f"{POINT}@3:raise")
    faults.fault(POINT)
    faults.fault(POINT)
    faults.fault("other.point")  # another point: no effect, not even a declaration check
    with pytest.raises(faults.InjectedFault, match=r"test\.point"):
        faults.fault(POINT)
    faults.fault(POINT)  # only the third call crashes


def test_undeclared_points_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV, "nowhere:raise")
    with pytest.raises(ValueError, match="not declared"):
        faults.fault("nowhere")
    monkeypatch.setenv(faults.ENV, f"{POINT}:crash")
    with pytest.raises(ValueError, match="mode"):
        faults.fault(POINT)


def test_exit_is_a_hard_exit_without_cleanup() -> None:
    code = (
        "import atexit, sys\n"
        "from tradelab import faults\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "p = faults.declare('x.y', 'z')\n"
        "try:\n"
        "    faults.fault(p)\n"
        "finally:\n"
        "    print('finally ran')\n"
    )
    env = {**os.environ, faults.ENV: "x.y"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == faults.EXIT_STATUS
    assert out.stdout == ""
