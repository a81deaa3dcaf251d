"""The TradeStation and Massive fetchers against the local fake API (`FakeMarketApi`):
documented formats and limits, windows and pages, retries, tokens, bad answers."""

from __future__ import annotations

import json
import logging
import time
from datetime import date

import pandas as pd
import pytest

from tradelab.data.calendar import sessions
from tradelab.data.massive import MassiveFetcher
from tradelab.data.rest_client import HttpSettings
from tradelab.data.tradestation import MAX_BARS, TradeStationFetcher
from tradelab.errors import FetchError
from tradelab.testing.fake_market_api import FakeMarketApi

FAST = HttpSettings(timeout_s=5.0, retries=3, backoff_s=0.01, max_wait_s=2.0)


@pytest.fixture
def api():
    with FakeMarketApi(seed=3) as server:
        yield server


def tradestation(api: FakeMarketApi, **kwargs) -> TradeStationFetcher:
    return TradeStationFetcher(
        api_url=api.url,
        token_url=f"{api.url}/oauth/token",
        http=kwargs.pop("http", FAST),
        env=kwargs.pop("env", api.env()),
        **kwargs,
    )


def massive(api: FakeMarketApi, **kwargs) -> MassiveFetcher:
    return MassiveFetcher(
        api_url=api.url, http=kwargs.pop("http", FAST), env=kwargs.pop("env", api.env()), **kwargs
    )


def _token_requests(api: FakeMarketApi) -> int:
    return sum(r.path == "/oauth/token" for r in api.requests)


def test_both_apis_give_the_same_canonical_bars(api: FakeMarketApi) -> None:
    """TradeStation stamps bar ends, Massive bar starts: both become the store's convention."""
    start, end = date(2024, 11, 25), date(2024, 12, 3)  # 2024-11-29 closes at 13:00
    ts_day = tradestation(api).fetch("SMH", "1day", start, end)
    ms_day = massive(api).fetch("SMH", "1day", start, end)
    pd.testing.assert_frame_equal(ts_day, ms_day, rtol=1e-6)
    local = ts_day["timestamp"].dt.tz_convert("America/New_York")
    assert (local.dt.hour == 0).all() and (local.dt.minute == 0).all()
    assert list(local.dt.date) == [d.date() for d in sessions(start, end)]

    ts_min = tradestation(api).fetch("SMH", "1min", start, end)
    ms_min = massive(api).fetch("SMH", "1min", start, end)
    regular = ms_min.loc[ms_min["timestamp"].isin(ts_min["timestamp"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(ts_min, regular, rtol=1e-6)
    assert len(ms_min) > len(ts_min)  # Massive's minute aggregates include the extended hours
    first = ts_min["timestamp"].dt.tz_convert("America/New_York").iloc[0]
    assert (first.hour, first.minute) == (9, 30)
    early = ts_min.loc[ts_min["timestamp"].dt.tz_convert("America/New_York").dt.day == 29]
    assert len(early) == 210  # the day after Thanksgiving ends at 13:00


def test_minute_requests_are_split_into_windows_within_the_bar_limit(api: FakeMarketApi) -> None:
    start, end = date(2024, 1, 1), date(2024, 12, 31)
    bars = tradestation(api).fetch("QQQ", "1min", start, end)
    windows = api.data_requests()
    days = sessions(start, end)
    assert len(windows) == -(-len(days) // (MAX_BARS // 390)) == 2
    assert all(r.status == 200 for r in windows)
    assert bars["timestamp"].is_unique and bars["timestamp"].is_monotonic_increasing
    got = set(bars["timestamp"].dt.tz_convert("America/New_York").dt.date)
    assert got == {d.date() for d in days}


def test_massive_follows_next_url_pages_with_the_key_in_a_header(api: FakeMarketApi) -> None:
    start, end = date(2024, 3, 4), date(2024, 3, 8)
    whole = massive(api).fetch("SMH", "1min", start, end)
    api.page_size = 700
    api.requests.clear()
    paged = massive(api).fetch("SMH", "1min", start, end)
    pd.testing.assert_frame_equal(paged, whole)
    pages = api.data_requests()
    assert len(pages) == -(-len(whole) // 700) > 1
    assert all("cursor" in r.query for r in pages[1:])
    assert not any("apiKey" in r.query or api.api_key in r.path for r in api.requests)


def test_massive_adjusted_and_unadjusted_prices_around_a_split(api: FakeMarketApi) -> None:
    window = (date(2024, 6, 3), date(2024, 6, 14))  # NVDA splits 10:1 on 2024-06-10
    adjusted = massive(api).fetch("NVDA", "1day", *window)
    raw = massive(api, adjusted=False).fetch("NVDA", "1day", *window)
    before = adjusted["timestamp"].dt.tz_convert("America/New_York").dt.date < date(2024, 6, 10)
    ratio = raw["close"] / adjusted["close"]
    assert ratio[before].round(6).eq(10.0).all()
    assert ratio[~before].round(6).eq(1.0).all()


def test_rate_limits_are_waited_out_as_retry_after_says(api: FakeMarketApi) -> None:
    api.rate_limit(2, retry_after=1)
    began = time.monotonic()
    bars = tradestation(api).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 31))
    assert time.monotonic() - began >= 2.0
    assert len(bars) == 21
    assert [r.status for r in api.data_requests()] == [429, 429, 200]


def test_a_long_retry_after_is_capped(api: FakeMarketApi, caplog) -> None:
    api.rate_limit(1, retry_after=120)
    capped = HttpSettings(timeout_s=5.0, retries=2, backoff_s=0.01, max_wait_s=0.5)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        massive(api, http=capped).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 31))
    assert time.monotonic() - began < 10
    assert "Retry-After" in caplog.text and "max_wait_s" in caplog.text


def test_server_errors_are_retried_then_reported_as_unavailable(api: FakeMarketApi) -> None:
    api.fail(2, status=503)
    assert len(massive(api).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))) == 4
    api.fail(10, status=502)
    with pytest.raises(FetchError) as err:
        massive(api).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))
    assert err.value.kind == "unavailable" and err.value.api_down
    assert "SMH" in str(err.value) and "1day 2024-01-02..2024-01-05" in str(err.value)
    assert "HTTP 502 after 3 retries" in str(err.value)


def test_an_expired_access_token_is_refreshed_once(api: FakeMarketApi) -> None:
    fetcher = tradestation(api)
    fetcher.fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))
    fetcher.fetch("SMH", "1day", date(2024, 1, 8), date(2024, 1, 12))
    assert _token_requests(api) == 1  # a valid token is reused
    api.expire_tokens()
    assert len(fetcher.fetch("SMH", "1day", date(2024, 1, 16), date(2024, 1, 19))) == 4
    assert _token_requests(api) == 2
    assert [r.status for r in api.data_requests()][-2:] == [401, 200]


def test_refused_credentials_name_what_to_fix_and_no_secret(api: FakeMarketApi) -> None:
    env = {**api.env(), "TRADESTATION_REFRESH_TOKEN": "not-" + api.refresh_token}
    with pytest.raises(FetchError) as err:
        tradestation(api, env=env).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))
    text = str(err.value)
    assert err.value.kind == "auth" and "invalid_grant" in text
    assert "TRADESTATION_REFRESH_TOKEN" in text
    for secret in (api.client_secret, api.refresh_token, api.client_id):
        assert secret not in text
    with pytest.raises(FetchError, match="no credentials: set MASSIVE_API_KEY") as err:
        massive(api, env={}, credentials_file=None).fetch(
            "SMH", "1day", date(2024, 1, 2), date(2024, 1, 5)
        )
    env = {"MASSIVE_API_KEY": "wrong-key"}
    with pytest.raises(FetchError, match="API key was refused") as err:
        massive(api, env=env).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))
    assert "wrong-key" not in str(err.value) and err.value.kind == "auth"


def test_malformed_json_is_a_bad_response_error(api: FakeMarketApi) -> None:
    api.malformed(1)
    with pytest.raises(FetchError, match="not valid JSON") as err:
        tradestation(api).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))
    assert err.value.kind == "bad_response" and not err.value.api_down
    assert "SMH 1day 2024-01-02..2024-01-05" in str(err.value)


def test_a_bar_without_a_price_names_the_field(api: FakeMarketApi, monkeypatch) -> None:
    from tradelab.data import tradestation as module

    bars = [{"TimeStamp": "2024-01-02T21:00:00Z", "Open": "1", "High": "2", "Low": "0.5"}]
    with pytest.raises(FetchError) as err:
        module.parse_bars(bars, "1day", error={"source": "tradestation", "symbol": "SMH"})
    assert err.value.field == "Close" and "bar 1 has no Close" in str(err.value)
    bars[0] |= {"Close": "n/a", "TotalVolume": "10"}
    with pytest.raises(FetchError, match="'n/a' is not a number") as err:
        module.parse_bars(bars, "1day", error={"source": "tradestation", "symbol": "SMH"})
    assert err.value.field == "Close"


def test_an_unknown_symbol(api: FakeMarketApi) -> None:
    with pytest.raises(FetchError) as err:
        tradestation(api).fetch("ZZZQ", "1day", date(2024, 1, 2), date(2024, 1, 5))
    assert err.value.kind == "unknown_symbol" and "ZZZQ" in str(err.value)
    # Massive answers 200 with no results: an empty fetch, which the store reports
    assert massive(api).fetch("ZZZQ", "1day", date(2024, 1, 2), date(2024, 1, 5)).empty


def test_a_server_dying_mid_download_is_unavailable(api: FakeMarketApi) -> None:
    api.die_after(1)
    with pytest.raises(FetchError) as err:
        tradestation(api).fetch("SMH", "1min", date(2024, 1, 1), date(2024, 12, 31))
    assert err.value.kind == "unavailable" and "cannot reach 127.0.0.1" in str(err.value)
    assert "SMH 1min 2024-08-" in str(err.value)  # the second window


def test_sessions_the_api_has_no_bars_for_are_reported(api: FakeMarketApi, caplog) -> None:
    api.missing_sessions = {date(2024, 1, 9), date(2024, 1, 10)}
    with caplog.at_level(logging.WARNING):
        bars = massive(api).fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 31))
    assert len(bars) == 19
    assert "no bars for 2 of 21 sessions" in caplog.text and "2024-01-09" in caplog.text


def test_credentials_file_and_rotation(api: FakeMarketApi, tmp_path, monkeypatch) -> None:
    outside = tmp_path / "home" / "tradestation.json"
    outside.parent.mkdir()
    keys = {
        "client_id": api.client_id,
        "client_secret": api.client_secret,
        "refresh_token": api.refresh_token,
    }
    outside.write_text(json.dumps(keys))
    monkeypatch.chdir(tmp_path)
    fetcher = tradestation(api, env={}, credentials_file=str(outside))
    assert len(fetcher.fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))) == 4
    assert api.client_secret not in repr(fetcher._credentials)

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    inside = repo / "conf" / "tradestation.json"
    inside.parent.mkdir()
    inside.write_text(json.dumps(keys))
    monkeypatch.chdir(repo)
    with pytest.raises(FetchError, match="inside the working tree"):
        tradestation(api, env={}, credentials_file=str(inside)).fetch(
            "SMH", "1day", date(2024, 1, 2), date(2024, 1, 5)
        )

    monkeypatch.chdir(tmp_path)
    api.rotate_refresh_tokens = True
    fetcher = tradestation(api, env={}, credentials_file=str(outside))
    fetcher.fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))
    stored = json.loads(outside.read_text())
    assert stored["refresh_token"] == api.refresh_token != keys["refresh_token"]
    assert outside.stat().st_mode & 0o777 == 0o600


def test_api_settings_refuse_bad_dates_and_timeframes() -> None:
    from tradelab.data.fetchers import api_fetcher, history_span
    from tradelab.data.settings import data_config
    from tradelab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data\.start"):
        data_config({"source": "tradestation", "start": "2020-13-01"})
    with pytest.raises(ConfigError, match=r"data\.timeframe"):
        data_config({"source": "massive", "timeframe": "5min"})
    data = data_config({"source": "massive", "start": "2020-01-02", "end": "2020-06-30"})
    assert history_span(data) == (date(2020, 1, 2), date(2020, 6, 30))
    assert isinstance(api_fetcher(data), MassiveFetcher)
    assert api_fetcher(data_config({"source": "synthetic"})) is None
    open_end = data_config({"source": "tradestation"})
    now = pd.Timestamp("2026-12-07 14:00", tz="UTC")
    assert history_span(open_end, now) == (date(2007, 1, 1), date(2026, 12, 4))


def test_massive_reads_the_legacy_polygon_key(api: FakeMarketApi) -> None:
    fetcher = massive(api, env={"POLYGON_API_KEY": api.api_key}, credentials_file=None)
    assert len(fetcher.fetch("SMH", "1day", date(2024, 1, 2), date(2024, 1, 5))) == 4


def test_a_massive_result_without_a_field_or_number_names_page_and_result() -> None:
    from tradelab.data.massive import parse_results

    error = {"source": "massive", "symbol": "SMH"}
    good = {"t": 1704171600000, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10, "n": 3}
    with pytest.raises(FetchError, match="page 2, result 2 has no c") as err:
        parse_results([good, {**good, "c": None}], error=error, page=1)
    assert err.value.field == "c"
    with pytest.raises(FetchError, match="page 1, result 1: 'x' is not a number"):
        parse_results([{**good, "v": "x"}], error=error)
