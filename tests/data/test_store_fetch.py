"""The store in front of a REST API: incremental fetches of what it lacks, the cache standing in
when the API is down, and nothing half-written when a download fails."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from tradelab.data import ParquetStore
from tradelab.data.rest_client import HttpSettings
from tradelab.data.tradestation import TradeStationFetcher
from tradelab.errors import DataError, FetchError
from tradelab.testing.fake_market_api import FakeMarketApi

FAST = HttpSettings(timeout_s=5.0, retries=1, backoff_s=0.01, max_wait_s=0.5)
SPAN = (date(2024, 1, 2), date(2024, 3, 28))


@pytest.fixture
def api():
    with FakeMarketApi(seed=5) as server:
        yield server


def store_for(api: FakeMarketApi, root: Path, span=SPAN, env=None, **kwargs) -> ParquetStore:
    fetcher = TradeStationFetcher(
        api_url=api.url, token_url=f"{api.url}/oauth/token", http=FAST, env=env or api.env()
    )
    return ParquetStore(root, fetcher, span=span, **kwargs)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_first_run_fetches_the_span_a_rerun_nothing_a_later_end_only_the_gap(
    api: FakeMarketApi, tmp_path: Path
) -> None:
    bars = store_for(api, tmp_path).get("SMH", "1day")
    assert len(bars) == 61 and len(api.data_requests()) == 1
    assert store_for(api, tmp_path).get("SMH", "1day").equals(bars)
    assert len(api.data_requests()) == 1 and len(api.requests) == 2  # one token, one window
    later = store_for(api, tmp_path, span=(SPAN[0], date(2024, 4, 5)))
    more = later.get("SMH", "1day")
    assert len(more) == 66
    last = api.data_requests()[-1]
    # only the missing sessions: 2024-03-29 is Good Friday, so the window opens on 04-01
    assert last.query["firstdate"] == "2024-04-01T04:00:00Z"
    meta = later.meta("SMH", "1day")
    assert meta.ranges == (("2024-01-02", "2024-04-05"),) and meta.source == "tradestation"


def test_with_the_api_down_the_cache_stands_in_with_a_warning(
    api: FakeMarketApi, tmp_path: Path, caplog
) -> None:
    store_for(api, tmp_path).get("SMH", "1day")
    api.stop()
    later = store_for(api, tmp_path, span=(SPAN[0], date(2024, 4, 5)))
    with caplog.at_level(logging.WARNING):
        bars = later.get("SMH", "1day")
    assert len(bars) == 61
    assert "tradestation unavailable" in caplog.text and "serving cached" in caplog.text
    with pytest.raises(DataError, match="nothing cached") as err:
        later.get("QQQ", "1day")
    assert "tradestation unavailable" in str(err.value) and "cannot reach" in str(err.value)


def test_refused_credentials_fall_back_to_the_cache_too(
    api: FakeMarketApi, tmp_path: Path, caplog
) -> None:
    env = api.env()
    store_for(api, tmp_path, env=env).get("SMH", "1day")
    api.refresh_token = "rotated-elsewhere"  # the one in `env` is no longer valid
    later = store_for(api, tmp_path, span=(SPAN[0], date(2024, 4, 5)), env=env)
    with caplog.at_level(logging.WARNING):
        assert len(later.get("SMH", "1day")) == 61
    assert "invalid_grant" in caplog.text and "serving cached" in caplog.text
    assert env["TRADESTATION_REFRESH_TOKEN"] not in caplog.text


def test_a_bad_answer_stops_the_job_and_changes_nothing(api: FakeMarketApi, tmp_path: Path) -> None:
    store_for(api, tmp_path).get("SMH", "1day")
    before = _files(tmp_path)
    api.malformed(1)
    with pytest.raises(FetchError, match="not valid JSON"):
        store_for(api, tmp_path, span=(SPAN[0], date(2024, 4, 5))).get("SMH", "1day")
    with pytest.raises(FetchError) as err:
        store_for(api, tmp_path).get("ZZZQ", "1day")
    assert err.value.kind == "unknown_symbol"
    assert _files(tmp_path) == before


def test_a_server_dying_mid_download_leaves_the_store_unchanged(
    api: FakeMarketApi, tmp_path: Path
) -> None:
    store_for(api, tmp_path).get("SMH", "1day")
    before = _files(tmp_path)
    api.die_after(1)  # the first of two minute windows arrives, the second never does
    minutes = store_for(api, tmp_path, span=(date(2024, 1, 2), date(2024, 9, 30)))
    with pytest.raises(DataError, match="nothing cached"):
        minutes.get("SMH", "1min")
    assert _files(tmp_path) == before
    statuses = [r.status for r in api.data_requests()]
    assert statuses[1] == 200 and set(statuses[2:]) == {0}  # dropped, retried, dropped


def test_fetch_false_reads_the_cache_only(api: FakeMarketApi, tmp_path: Path, caplog) -> None:
    store_for(api, tmp_path).get("SMH", "1day")
    offline = store_for(api, tmp_path, span=(SPAN[0], date(2024, 4, 5)), offline=True)
    with caplog.at_level(logging.WARNING):
        assert len(offline.get("SMH", "1day")) == 61
    assert len(api.data_requests()) == 1 and "offline" in caplog.text


def test_five_minute_bars_derive_from_fetched_minutes(api: FakeMarketApi, tmp_path: Path) -> None:
    store = store_for(api, tmp_path, span=(date(2024, 3, 4), date(2024, 3, 8)))
    five = store.get("SMH", "5min")
    assert len(five) == 5 * 78
    assert store.meta("SMH", "1min").rows == 5 * 390


def test_minutes_missing_inside_sessions_are_stored_as_served(
    api: FakeMarketApi, tmp_path: Path
) -> None:
    """Minutes without a trade are absent from both APIs: the sessions still count as covered,
    nothing is filled in, and the 5-minute bars are built from what there is."""
    api.missing_minutes = 0.2
    store = store_for(api, tmp_path, span=(date(2024, 3, 4), date(2024, 3, 8)))
    minutes = store.get("SMH", "1min")
    per_day = minutes.groupby(minutes["timestamp"].dt.tz_convert("America/New_York").dt.date)
    assert len(per_day) == 5 and all(250 < len(day) < 390 for _, day in per_day)
    assert store.meta("SMH", "1min").ranges == (("2024-03-04", "2024-03-08"),)
    five = store.get("SMH", "5min")
    assert 5 * 70 < len(five) <= 5 * 78 and five["volume"].sum() == minutes["volume"].sum()
    assert len(store.get("SMH", "1min")) == len(minutes) and len(api.data_requests()) == 1
