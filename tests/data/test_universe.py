from __future__ import annotations

from tradelab.data import ParquetStore, SyntheticFetcher, select_universe

from .conftest import SMALL


def test_sectors_availability_and_price_filter(tmp_path) -> None:
    store = ParquetStore(tmp_path, SyntheticFetcher(SMALL))
    for s in ("RIOT", "MARA", "SOFI", "SPY"):
        store.get(s, "1day")
    sectors = {"crypto_mining": ["RIOT", "MARA", "CLSK"], "fintech_disruptors": ["SOFI"]}
    everyone = select_universe(store, "1day", sectors=sectors, extra=["SPY"])
    assert [m.symbol for m in everyone] == ["RIOT", "MARA", "SOFI", "SPY"]  # CLSK has no data
    assert everyone[0].sector == "crypto_mining" and everyone[-1].sector is None
    cheap = select_universe(store, "1day", sectors=sectors, extra=["SPY"], max_last_price=25.0)
    assert all(m.last_price < 25 for m in cheap)
    assert {m.symbol for m in cheap} == {m.symbol for m in everyone if m.last_price < 25}
    assert select_universe(store, "1day", sectors=sectors, min_bars=10_000) == []
