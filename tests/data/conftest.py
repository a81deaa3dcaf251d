from __future__ import annotations

from pathlib import Path

import pytest

from tradelab.data import MarketSpec, ParquetStore, generate_market, write_day_files
from tradelab.data.synthetic import SyntheticMarket

SMALL = MarketSpec(
    seed=11,
    symbols=("SPY", "QQQ", "TQQQ", "DIA", "RIOT", "MARA", "SOFI"),
    daily_years=2.0,
    minute_days=3,
)


@pytest.fixture(scope="session")
def small_market() -> SyntheticMarket:
    return generate_market(SMALL)


@pytest.fixture
def raw_dir(tmp_path: Path, small_market: SyntheticMarket) -> Path:
    root = tmp_path / "raw"
    write_day_files(small_market.bars.daily, small_market.bars.minute, root)
    return root


@pytest.fixture
def store(tmp_path: Path) -> ParquetStore:
    return ParquetStore(tmp_path / "store")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes (to assert a failure changed nothing)."""
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.exists()
        else {}
    )
