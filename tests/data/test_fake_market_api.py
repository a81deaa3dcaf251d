"""The fake TradeStation v3 / Massive server: formats, limits, pagination, faults and auth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from tradelab.testing.fake_market_api import FakeMarketApi

BARS = "/v3/marketdata/barcharts/"


@pytest.fixture
def api() -> Iterator[FakeMarketApi]:
    with FakeMarketApi(seed=5, last_day=date(2024, 12, 31)) as server:
        yield server


def token(api: FakeMarketApi, **override: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": api.client_id,
        "client_secret": api.client_secret,
        "refresh_token": api.refresh_token,
    }
    return requests.post(f"{api.url}/oauth/token", data={**form, **override}, timeout=5)


def barcharts(api: FakeMarketApi, symbol: str, access: str | None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    query = {"interval": "1", "unit": "Minute", "sessiontemplate": "Default", **params}
    return requests.get(f"{api.url}{BARS}{symbol}", params=query, headers=headers, timeout=5)


def aggs(api: FakeMarketApi, path: str, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {api.api_key}"}
    return requests.get(f"{api.url}/v2/aggs/ticker/{path}", params, headers=headers, timeout=5)


def test_tradestation_minute_and_daily_bars_on_an_early_close(api: FakeMarketApi) -> None:
    answer = token(api).json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 1200
    access = answer["access_token"]
    day = {"firstdate": "2024-11-29", "lastdate": "2024-11-29T23:59:00Z"}
    minutes = barcharts(api, "SPY", access, **day).json()["Bars"]
    assert len(minutes) == 210  # the day after Thanksgiving closes at 13:00
    assert minutes[0]["TimeStamp"] == "2024-11-29T14:31:00Z"  # 09:30-09:31 New York, at its end
    assert minutes[-1]["TimeStamp"] == "2024-11-29T18:00:00Z"
    assert minutes[0]["Epoch"] == 1732890660000
    for bar in minutes:
        assert isinstance(bar["High"], str) and isinstance(bar["TotalVolume"], str)
        o, h, lo, c = (float(bar[k]) for k in ("Open", "High", "Low", "Close"))
        assert lo <= min(o, c) <= max(o, c) <= h and int(bar["TotalVolume"]) > 0
        assert bar["UpTicks"] + bar["DownTicks"] == bar["TotalTicks"] > 0
    (daily,) = barcharts(api, "SPY", access, unit="Daily", **day).json()["Bars"]
    assert daily["TimeStamp"] == "2024-11-29T18:00:00Z"
    assert daily["Open"] == minutes[0]["Open"] and daily["Close"] == minutes[-1]["Close"]
    assert float(daily["High"]) == max(float(b["High"]) for b in minutes)
    assert float(daily["Low"]) == min(float(b["Low"]) for b in minutes)
    assert int(daily["TotalVolume"]) == sum(int(b["TotalVolume"]) for b in minutes)


def test_tradestation_auth_and_errors(api: FakeMarketApi) -> None:
    assert token(api, client_secret="nope").status_code == 401
    assert token(api, refresh_token="nope").json()["error"] == "invalid_grant"
    assert token(api, grant_type="password").status_code == 400
    access = token(api).json()["access_token"]
    day = {"firstdate": "2024-03-04", "lastdate": "2024-03-04"}
    assert barcharts(api, "SPY", None, **day).json()["Error"] == "Unauthorized"
    assert barcharts(api, "ZZZZ", access, **day).json()["Message"] == "Symbol ZZZZ not found."
    assert barcharts(api, "SPY", access, unit="Weekly", **day).status_code == 400
    assert barcharts(api, "SPY", access, sessiontemplate="USEQPre", **day).status_code == 400
    assert barcharts(api, "SPY", access, firstdate="2024-03-04").status_code == 400
    year = barcharts(api, "SPY", access, firstdate="2023-01-01", lastdate="2023-12-31")
    assert year.status_code == 400 and year.json()["Error"] == "BadRequest"  # > 57,600 bars
    assert barcharts(api, "SPY", access, **day).status_code == 200
    api.expire_tokens()
    assert barcharts(api, "SPY", access, **day).status_code == 401
    assert barcharts(api, "SPY", token(api).json()["access_token"], **day).status_code == 200


def test_massive_daily_format_splits_and_empty_answers(api: FakeMarketApi) -> None:
    body = aggs(api, "SPY/range/1/day/2023-01-03/2023-01-05").json()
    assert body["status"] == "OK" and body["resultsCount"] == body["count"] == 3
    assert [r["t"] for r in body["results"]] == [1672722000000, 1672808400000, 1672894800000]
    assert set(body["results"][0]) == {"v", "vw", "o", "c", "h", "l", "t", "n"}
    span = "NVDA/range/1/day/2024-06-06/2024-06-11"
    adjusted = aggs(api, span).json()["results"]
    raw = aggs(api, span, adjusted="false").json()["results"]
    assert [round(r["c"] / a["c"], 3) for r, a in zip(raw, adjusted)] == [10.0, 10.0, 1.0, 1.0]
    assert raw[0]["v"] == round(adjusted[0]["v"] / 10)
    for path in ("ZZZZ/range/1/day/2023-01-03/2023-01-05", "SPY/range/1/day/2025-01-02/2025-01-03"):
        empty = aggs(api, path).json()
        assert empty["resultsCount"] == empty["queryCount"] == 0 and "results" not in empty
    assert aggs(api, "SPY/range/5/minute/2023-01-03/2023-01-05").status_code == 400


def test_massive_auth(api: FakeMarketApi) -> None:
    url = f"{api.url}/v2/aggs/ticker/SPY/range/1/day/2023-01-03/2023-01-03"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401 and missing.json()["error"] == "Unknown API Key"
    assert requests.get(url, params={"apiKey": "wrong"}, timeout=5).status_code == 401
    assert requests.get(url, params={"apiKey": api.api_key}, timeout=5).status_code == 200


def test_massive_pagination_follows_next_url(api: FakeMarketApi) -> None:
    span = "SPY/range/1/minute/2024-03-04/2024-03-05"
    whole = aggs(api, span, limit=50_000).json()
    assert "next_url" not in whole
    times = [r["t"] for r in whole["results"]]
    assert times == sorted(set(times)) and len(times) > 2 * 390  # extended hours are included
    assert times[0] >= 1709542800000  # 04:00 New York on 2024-03-04
    pages, body = [], aggs(api, span, limit=300, adjusted="true").json()
    while True:
        pages += body["results"]
        assert len(body["results"]) <= 300
        if "next_url" not in body:
            break
        assert api.api_key not in body["next_url"]
        headers = {"Authorization": f"Bearer {api.api_key}"}
        body = requests.get(body["next_url"], headers=headers, timeout=5).json()
    assert pages == whole["results"]
    cut = aggs(api, f"SPY/range/1/minute/{times[10]}/{times[20]}").json()
    assert [r["t"] for r in cut["results"]] == times[10:21]


def test_bars_are_deterministic_and_honour_missing_data(api: FakeMarketApi) -> None:
    one_day = aggs(api, "QQQ/range/1/day/2024-03-05/2024-03-05").json()["results"]
    week = aggs(api, "QQQ/range/1/day/2024-03-01/2024-03-08").json()["results"]
    assert one_day[0] in week
    with FakeMarketApi(seed=5) as twin:
        assert aggs(twin, "QQQ/range/1/day/2024-03-05/2024-03-05").json()["results"] == one_day
    api.missing_sessions = {date(2024, 3, 5)}
    assert len(aggs(api, "QQQ/range/1/day/2024-03-01/2024-03-08").json()["results"]) == 5
    api.missing_minutes = 0.1
    access = token(api).json()["access_token"]
    day = {"firstdate": "2024-03-06", "lastdate": "2024-03-06"}
    assert 300 < len(barcharts(api, "QQQ", access, **day).json()["Bars"]) < 390


def test_faults_apply_in_order_to_data_requests(api: FakeMarketApi) -> None:
    span = "SPY/range/1/day/2023-01-03/2023-01-05"
    api.rate_limit(1, retry_after=2)
    api.fail(1, status=502)
    api.malformed(1)
    access = token(api).json()["access_token"]  # token requests take no fault
    limited = aggs(api, span)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json()["status"] == "ERROR"
    failed = barcharts(api, "SPY", access, firstdate="2023-01-03", lastdate="2023-01-03")
    assert failed.status_code == 502 and failed.json()["Error"] == "BadGateway"
    broken = aggs(api, span)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)
    assert aggs(api, span).status_code == 200
    assert [r.status for r in api.data_requests()] == [429, 502, 200, 200]
    assert api.requests[0].path == "/oauth/token" and len(api.requests) == 5


def test_die_after_drops_connections(api: FakeMarketApi) -> None:
    api.die_after(1)
    span = "SPY/range/1/day/2023-01-03/2023-01-05"
    assert aggs(api, span).status_code == 200
    with pytest.raises(requests.ConnectionError):
        aggs(api, span)
    with pytest.raises(requests.ConnectionError):
        token(api)
    assert [r.status for r in api.requests] == [200, 0, 0]


def test_env_names_the_credentials(api: FakeMarketApi) -> None:
    env = api.env()
    assert env["MASSIVE_API_KEY"] == api.api_key
    assert env["TRADESTATION_REFRESH_TOKEN"] == api.refresh_token
    assert len(set(env.values())) == 4 and api.url.startswith("http://127.0.0.1:")
