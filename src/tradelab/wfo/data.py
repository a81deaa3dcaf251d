"""Daily bars of the traded symbol (and the second symbol of dual variants) as numpy arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradelab.errors import DataValidationError

__all__ = ["WfoData"]

_PRICE_FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True, eq=False)
class WfoData:
    """Validated daily bars: `timestamps` (datetime64[ns]), OHLC float64, optional `close2`.

    `close2` is the close of the second symbol aligned to the traded symbol's dates (dual
    variants compute Bollinger width from it). `bars_per_year` annualises Sharpe, Sortino and
    CAGR (252 for daily bars).
    """

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    close2: np.ndarray | None = None
    symbol: str = ""
    symbol2: str | None = None
    bars_per_year: float = 252.0

    def __post_init__(self) -> None:
        ts = _as_datetime64(self.timestamps)
        n = ts.shape[0]
        if n < 2:
            raise DataValidationError("need at least 2 bars", field="timestamps")
        if not np.all(ts[1:] > ts[:-1]):
            row = int(np.argmin(ts[1:] > ts[:-1])) + 1
            raise DataValidationError(
                "timestamps must increase strictly", row=row, field="timestamps"
            )
        object.__setattr__(self, "timestamps", ts)
        for name in (*_PRICE_FIELDS, "close2"):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.ascontiguousarray(value, dtype=np.float64)
            if arr.shape != (n,):
                raise DataValidationError(f"expected shape ({n},), got {arr.shape}", field=name)
            bad = ~np.isfinite(arr) | (arr <= 0.0)
            if bad.any():
                row = int(np.argmax(bad))
                raise DataValidationError(
                    f"price {arr[row]!r} is not finite and positive", row=row, field=name
                )
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        too_high = self.high < np.maximum(self.open, self.close)
        too_low = self.low > np.minimum(self.open, self.close)
        for field, bad in (("high", too_high), ("low", too_low)):
            if bad.any():
                row = int(np.argmax(bad))
                raise DataValidationError(
                    "high/low do not bracket open and close", row=row, field=field
                )
        if not self.bars_per_year > 0:
            raise DataValidationError("must be positive", field="bars_per_year")

    @classmethod
    def from_frames(
        cls,
        frame: Any,
        frame2: Any | None = None,
        *,
        symbol: str = "",
        symbol2: str | None = None,
        bars_per_year: float = 252.0,
    ) -> WfoData:
        """Build from store frames (`timestamp, open, high, low, close`); align `frame2` close.

        The second symbol's close is taken at each of the first symbol's dates, carrying the last
        known close over gaps; leading dates before the second symbol starts are dropped.
        """
        import pandas as pd

        for name, df in (("frame", frame), ("frame2", frame2)):
            if df is None:
                continue
            missing = {"timestamp", "close"} - set(df.columns)
            if name == "frame":
                missing |= {"open", "high", "low"} - set(df.columns)
            if missing:
                raise DataValidationError(
                    f"{name} lacks columns {sorted(missing)}", field=sorted(missing)[0]
                )
        ts = pd.to_datetime(frame["timestamp"], utc=True)
        base = pd.DataFrame(
            {c: frame[c].to_numpy(dtype=np.float64) for c in _PRICE_FIELDS},
            index=pd.DatetimeIndex(ts).tz_localize(None),
        )
        close2 = None
        if frame2 is not None:
            ts2 = pd.DatetimeIndex(pd.to_datetime(frame2["timestamp"], utc=True)).tz_localize(None)
            second = pd.Series(frame2["close"].to_numpy(dtype=np.float64), index=ts2).sort_index()
            aligned = second.reindex(base.index.union(second.index)).ffill().reindex(base.index)
            keep = aligned.notna().to_numpy()
            if not keep.any():
                raise DataValidationError(
                    "second symbol has no bar on or before the traded dates", field="close2"
                )
            base = base[keep]
            close2 = aligned.to_numpy()[keep]
        return cls(
            timestamps=base.index.to_numpy(dtype="datetime64[ns]"),
            open=base["open"].to_numpy(),
            high=base["high"].to_numpy(),
            low=base["low"].to_numpy(),
            close=base["close"].to_numpy(),
            close2=close2,
            symbol=symbol,
            symbol2=symbol2,
            bars_per_year=bars_per_year,
        )

    @property
    def n_bars(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def bb_source(self) -> np.ndarray:
        """Return the close that Bollinger width is computed from (data2 when present)."""
        return self.close if self.close2 is None else self.close2

    def data_hash(self) -> str:
        """Hash every array and the annualisation: a cache built on other bars is never reused."""
        h = hashlib.sha256()
        h.update(self.timestamps.view(np.int64).tobytes())
        for name in (*_PRICE_FIELDS, "close2"):
            value = getattr(self, name)
            h.update(name.encode())
            if value is not None:
                h.update(value.tobytes())
        h.update(repr(float(self.bars_per_year)).encode())
        return h.hexdigest()[:16]


def _as_datetime64(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataValidationError("timestamps must be one-dimensional", field="timestamps")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64).view("datetime64[ns]").copy()
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ns]")
    try:
        return arr.astype("datetime64[ns]")
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            "timestamps must be int64 ns or datetime64", field="timestamps"
        ) from exc
