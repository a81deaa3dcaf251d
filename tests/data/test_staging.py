"""All-or-nothing store writes: staged datasets, a journaled commit, completion at the next open,
orphaned staging folders removed, one writer at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tradelab import faults
from tradelab.data import ParquetStore
from tradelab.data.journal import COMMIT_RENAME, JOURNAL
from tradelab.data.staging import store_transaction
from tradelab.data.synthetic import SyntheticMarket
from tradelab.errors import DataError

from .conftest import snapshot
from .digests import store_digest


def _bars(market: SyntheticMarket, symbol: str):
    daily = market.bars.daily
    frame = daily.loc[daily["ticker"] == symbol].copy()
    frame["timestamp"] = frame["window_start"].astype("datetime64[ns]").dt.tz_localize("UTC")
    return frame[["timestamp", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def _visible(root: Path) -> dict[str, bytes]:
    """The store's files a reader uses (not the lock, journal or staging folders)."""
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".")}


@pytest.fixture
def old_store(tmp_path: Path, small_market: SyntheticMarket) -> ParquetStore:
    store = ParquetStore(tmp_path / "store")
    frame = _bars(small_market, "SPY")
    store.write("SPY", "1day", frame.iloc[:200], source="test")
    store.write("RIOT", "1day", _bars(small_market, "RIOT"), source="test")
    return store


def _stage_update(store: ParquetStore, market: SyntheticMarket):
    """A transaction that extends SPY, adds QQQ and removes RIOT (not yet committed)."""
    ctx = store_transaction(store)
    txn = ctx.__enter__()
    spy = _bars(market, "SPY")
    txn.view.merge("SPY", "1day", spy.iloc[200:], source="test")
    txn.view.write("QQQ", "1day", _bars(market, "QQQ"), source="test")
    txn.remove([("RIOT", "1day")])
    return ctx, txn


def test_nothing_reaches_the_store_before_the_commit(old_store, small_market) -> None:
    before = snapshot(old_store.root)
    ctx, txn = _stage_update(old_store, small_market)
    assert len(txn.view.read("SPY", "1day")) == len(_bars(small_market, "SPY"))  # staged view
    assert txn.view.symbols("1day") == ["QQQ", "SPY"]
    assert _visible(old_store.root) == before
    ctx.__exit__(RuntimeError, RuntimeError("a later file was bad"), None)  # the block failed
    assert _visible(old_store.root) == before
    assert not list(old_store.root.glob(".staging-*"))


def test_commit_moves_every_staged_file_in_and_deletes_the_removed(old_store, small_market) -> None:
    ctx, txn = _stage_update(old_store, small_market)
    summary = txn.commit()
    ctx.__exit__(None, None, None)
    assert (summary.moved, summary.deleted) == (4, 2)
    store = ParquetStore(old_store.root)
    assert store.symbols("1day") == ["QQQ", "SPY"]
    assert len(store.read("SPY", "1day")) == len(_bars(small_market, "SPY"))
    assert not (store.root / JOURNAL).exists() and not list(store.root.glob(".staging-*"))


_CRASH = """
import sys
import pandas as pd
from tradelab.data import ParquetStore
from tradelab.data.staging import store_transaction
store = ParquetStore(sys.argv[1])
with store_transaction(store) as txn:
    for symbol in ("QQQ", "SPY"):
        frame = store.read("SPY", "1day").assign(close=lambda f: f["close"] * 2)
        frame["high"] = frame[["high", "close"]].max(axis=1)
        txn.view.write(symbol, "1day", frame, source="test")
    txn.remove([("RIOT", "1day")])
    txn.commit()
"""


def _commit_in_subprocess(root: Path, fault: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if fault:
        env[faults.ENV] = fault
    done = subprocess.run([sys.executable, "-c", _CRASH, str(root)], env=env, check=False)
    assert done.returncode == (faults.EXIT_STATUS if fault else 0)


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_commit_killed_half_way_is_completed_at_the_next_open(
    old_store, tmp_path: Path, nth: int
) -> None:
    twin = tmp_path / "twin"
    before = snapshot(old_store.root)
    for name, data in before.items():
        (twin / name).parent.mkdir(parents=True, exist_ok=True)
        (twin / name).write_bytes(data)
    _commit_in_subprocess(twin, None)
    _commit_in_subprocess(old_store.root, f"{COMMIT_RENAME}@{nth}")
    assert (old_store.root / JOURNAL).exists()
    assert _visible(old_store.root) != before  # a mix on disk, until the store is opened
    ParquetStore(old_store.root)
    assert store_digest(old_store.root) == store_digest(twin)
    assert not (old_store.root / JOURNAL).exists() and not list(old_store.root.glob(".staging-*"))


def test_a_commit_whose_staged_files_are_gone_refuses_to_open(old_store) -> None:
    _commit_in_subprocess(old_store.root, f"{COMMIT_RENAME}@1")
    for staging in old_store.root.glob(".staging-*"):
        shutil.rmtree(staging)  # e.g. removed by hand
    with pytest.raises(DataError, match=r"\.commit\.json.*cannot complete the interrupted commit"):
        ParquetStore(old_store.root)


def test_an_error_after_the_journal_completes_the_commit(
    old_store, small_market, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults, "_hits", {})
    monkeypatch.setenv(faults.ENV, f"{COMMIT_RENAME}@2:raise")
    ctx, txn = _stage_update(old_store, small_market)
    with pytest.raises(faults.InjectedFault):
        txn.commit()
    ctx.__exit__(faults.InjectedFault, None, None)
    store = ParquetStore(old_store.root)
    assert store.symbols("1day") == ["QQQ", "SPY"] and not (store.root / JOURNAL).exists()


def test_the_next_writer_removes_an_orphaned_staging_folder(old_store) -> None:
    orphan = old_store.root / ".staging-999999-dead" / "1day"
    orphan.mkdir(parents=True)
    (orphan / "SPY.parquet").write_bytes(b"half")
    with store_transaction(old_store) as txn:
        assert txn.commit().changed is False
    assert not orphan.parent.exists()


def test_a_journal_with_a_path_outside_the_store_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / ".staging-1-x").mkdir(parents=True)
    journal = {"version": 1, "staging": ".staging-1-x", "moves": ["../../etc/x"], "deletes": []}
    (root / JOURNAL).write_text(json.dumps(journal))
    with pytest.raises(DataError, match=r"\.commit\.json.*unsafe path"):
        ParquetStore(root)


def test_writers_take_turns(old_store) -> None:
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with store_transaction(old_store):
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with store_transaction(old_store):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
