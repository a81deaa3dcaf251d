from __future__ import annotations

import json

import pytest

from tradelab.atomic import atomic_path, write_if_changed, write_json_atomic, write_metrics_json


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path) -> None:
    target = tmp_path / "a" / "file.txt"
    write_if_changed(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_write_if_changed_and_json(tmp_path) -> None:
    path = tmp_path / "x.txt"
    assert write_if_changed(path, "a") is True
    mtime = path.stat().st_mtime_ns
    assert write_if_changed(path, "a") is False and path.stat().st_mtime_ns == mtime
    assert write_if_changed(path, "b") is True and path.read_text() == "b"
    out = write_json_atomic(tmp_path / "y.json", {"b": 1, "a": float("nan")}, sort_keys=True)
    assert out.read_text() == '{\n  "a": NaN,\n  "b": 1\n}\n'


def test_metrics_files_hold_floats_with_nan_as_null_and_are_kept_when_unchanged(tmp_path) -> None:
    path = tmp_path / "metrics" / "wfo_SMH.json"
    metrics = {"b": 2, "a": float("nan"), "SMH": {"pbo": 0.25}}
    assert write_metrics_json(path, metrics)
    assert json.loads(path.read_text()) == {"b": 2.0, "a": None, "SMH": {"pbo": 0.25}}
    assert list(json.loads(path.read_text())) == ["b", "a", "SMH"]  # the caller's order
    assert not write_metrics_json(path, metrics)  # unchanged: not rewritten
    assert write_metrics_json(path, metrics, sort_keys=True)
    assert list(json.loads(path.read_text())) == ["SMH", "a", "b"]
