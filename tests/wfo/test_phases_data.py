"""Phase placement relative to the end of the data; bar validation and alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ConfigError, DataError, DataValidationError
from tradelab.settings import from_plain
from tradelab.wfo.data import WfoData
from tradelab.wfo.phases import Phase, phases_from_config, resolve_phases
from tradelab.wfo.settings import PhaseConfig, PhasesConfig

from .conftest import make_bars

SEED_LAYOUT_YAML = {
    "warmup_bars": 100,
    "phases": [
        {"name": "phase1", "is_years": 6, "oos_years": 4, "end_offset_years": 5},
        {"name": "phase2", "is_years": 5, "oos_years": 5, "end_offset_years": 3},
        {"name": "phase3", "is_years": 5, "oos_years": 5, "end_offset_years": 1},
        {"name": "phase4", "is_years": 4, "oos_years": 4, "end_offset_years": 0},
    ],
}
SEED_LAYOUT = from_plain(PhasesConfig, SEED_LAYOUT_YAML, "phases")


def test_seed_phases_are_placed_from_the_end() -> None:
    data = make_bars(16 * 252, seed=1, dual=False)
    phases = phases_from_config(SEED_LAYOUT, data.timestamps)
    ts = data.timestamps
    years = lambda a, b: (ts[b] - ts[a]) / np.timedelta64(1, "D") / 365.25  # noqa: E731
    assert phases[3].oos_end == data.n_bars - 1
    for p, (is_y, oos_y, off) in zip(phases, [(6, 4, 5), (5, 5, 3), (5, 5, 1), (4, 4, 0)]):
        assert p.n_warmup == 100
        assert years(p.is_start, p.oos_start) == pytest.approx(is_y, abs=0.01)
        assert years(p.oos_start, p.oos_end) == pytest.approx(oos_y, abs=0.01)
        assert years(p.oos_end, data.n_bars - 1) == pytest.approx(off, abs=0.01)
    assert phases[0].is_start < phases[1].is_start < phases[2].is_start < phases[3].is_start


def test_short_history_is_a_data_error() -> None:
    data = make_bars(10 * 252, seed=1, dual=False)
    with pytest.raises(DataError, match="phase1 needs 15 years") as err:
        phases_from_config(SEED_LAYOUT, data.timestamps)
    assert "phases=compact" in str(err.value)  # what to do
    spec = PhaseConfig(name="p", is_years=3, oos_years=2, end_offset_years=2.5)
    ok = resolve_phases(data.timestamps, [spec], warmup_bars=100)
    assert ok[0].n_warmup == 100


def test_phase_and_spec_validation() -> None:
    with pytest.raises(ConfigError):
        Phase("bad", 10, 5, 20, 30)
    with pytest.raises(ConfigError, match="is_years"):
        PhaseConfig(name="p", is_years=0, oos_years=1)
    with pytest.raises(ConfigError, match="oos_years"):
        from_plain(PhasesConfig, {"phases": [{"name": "p", "is_years": 1}]}, "phases")
    with pytest.raises(ConfigError, match="at least one phase"):
        phases_from_config(PhasesConfig(), np.arange(10))
    p = Phase("p", 0, 10, 50, 99)
    assert (p.n_is, p.n_oos, p.n_bars, p.n_traded) == (40, 50, 100, 90)


def test_bars_are_validated() -> None:
    good = make_bars(50, seed=2, dual=False)
    args = dict(
        timestamps=good.timestamps, open=good.open, high=good.high, low=good.low, close=good.close
    )
    with pytest.raises(DataValidationError, match="timestamps") as info:
        WfoData(**{**args, "timestamps": good.timestamps[::-1]})
    assert info.value.field == "timestamps"
    close = good.close.copy()
    close[7] = np.nan
    with pytest.raises(DataValidationError) as info:
        WfoData(**{**args, "close": close})
    assert (info.value.field, info.value.row) == ("close", 7)
    high = good.high.copy()
    high[3] = good.low[3] * 0.5
    with pytest.raises(DataValidationError, match="bracket"):
        WfoData(**{**args, "high": high})
    ints = WfoData(**{**args, "timestamps": good.timestamps.view(np.int64)})
    assert ints.timestamps.dtype == np.dtype("datetime64[ns]")
    assert ints.data_hash() == good.data_hash() != make_bars(50, seed=3, dual=False).data_hash()


def test_from_frames_aligns_second_symbol() -> None:
    data = make_bars(30, seed=4, dual=False)
    ts = pd.Series(pd.to_datetime(data.timestamps).tz_localize("UTC"))
    frame = pd.DataFrame(
        {
            "timestamp": ts,
            "open": data.open,
            "high": data.high,
            "low": data.low,
            "close": data.close,
            "volume": 1.0,
        }
    )
    second = pd.DataFrame(
        {
            "timestamp": ts.iloc[3:].drop(ts.index[10]),
            "close": np.arange(3.0, 30.0)[np.arange(27) != 7],
        }
    )
    out = WfoData.from_frames(frame, second, symbol="A", symbol2="B")
    assert out.n_bars == 27 and out.timestamps[0] == data.timestamps[3]
    assert out.close2[7] == out.close2[6] == 9.0  # the missing day carries the last close
    np.testing.assert_array_equal(out.close, data.close[3:])
    with pytest.raises(DataValidationError, match="close"):
        WfoData.from_frames(frame.drop(columns="close"))
