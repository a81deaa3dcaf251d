"""Progress without a terminal (CI, a log file): one line per finished task, or per step."""

from __future__ import annotations

from tradelab.progress import ProgressDisplay


def test_a_task_prints_one_line_when_it_completes(capsys) -> None:
    with ProgressDisplay(True, unit="combos") as display:
        task = display.task("atr_d_l phase1 (1/4)", 100)
        for _ in range(4):
            display.update(task, advance=25, note="1,000/s")
        display.update(task, advance=0)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("atr_d_l phase1 (1/4): 100/100 combos in ")
    assert lines[0].endswith("1,000/s")


def test_a_cached_task_says_so_at_once_and_each_step_prints(capsys) -> None:
    with ProgressDisplay(True, unit="symbols") as display:
        display.task("phase2 (2/4)", 10, 10)
        study = display.task("kalman_residual sharpe", 3, each=True)
        for sym in ("RIOT", "PLUG", "MARA"):
            display.update(study, advance=1, note=f"{sym}: best 1.2")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("phase2 (2/4): 10/10 symbols")
    assert [line.split(": ", 1)[1].split(" symbols")[0] for line in lines[1:]] == [
        "1/3",
        "2/3",
        "3/3",
    ]
    assert lines[-1].endswith("MARA: best 1.2")


def test_disabled_prints_nothing(capsys) -> None:
    with ProgressDisplay(False) as display:
        task = display.task("x", 1)
        display.update(task, advance=1)
    assert capsys.readouterr().err == ""
