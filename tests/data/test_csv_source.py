from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradelab.data import ParquetStore, ValidationReport, read_long_table, read_wide_closes
from tradelab.errors import DataError, DataValidationError

FIXTURES = Path(__file__).parent / "fixtures"
YAHOO = {
    "timestamp": "Date",
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "volume": "Volume",
}


def test_yahoo_daily_export_loads_with_a_column_mapping_only(tmp_path) -> None:
    frames = read_long_table(
        FIXTURES / "SMH_yahoo.csv", columns=YAHOO, symbol="SMH", date_format="%m/%d/%Y"
    )
    smh = frames["SMH"]
    assert len(smh) == 15
    assert smh["timestamp"].iloc[0] == pd.Timestamp("2024-01-02", tz="America/New_York")
    assert smh["close"].iloc[-1] == pytest.approx(194.649994)
    store = ParquetStore(tmp_path)
    store.write("SMH", "1day", smh, source="csv")
    assert store.get("SMH", "1day", "2024-01-08", "2024-01-12")["close"].tolist() == pytest.approx(
        [172.020004, 172.789993, 175.309998, 175.729996, 175.690002]
    )


def test_adjusted_close_scales_the_whole_bar() -> None:
    frames = read_long_table(
        FIXTURES / "SMH_yahoo.csv",
        columns=YAHOO,
        symbol="SMH",
        date_format="%m/%d/%Y",
        adjust_close_column="Adj Close",
    )
    first = frames["SMH"].iloc[0]
    assert first["close"] == pytest.approx(166.532669)
    assert first["open"] == pytest.approx(172.130005 * 166.532669 / 168.809998)


def test_yahoo_null_row_names_the_row(tmp_path) -> None:
    text = (FIXTURES / "SMH_yahoo.csv").read_text().splitlines()
    text[4] = "01/05/2024,null,null,null,null,null,null"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataValidationError) as info:
        read_long_table(path, columns=YAHOO, symbol="SMH", date_format="%m/%d/%Y")
    assert info.value.row == 4 and info.value.file == str(path)
    dropped = read_long_table(
        path, columns=YAHOO, symbol="SMH", date_format="%m/%d/%Y", on_bad="drop"
    )
    assert len(dropped["SMH"]) == 14


def test_bad_date_names_the_row(tmp_path) -> None:
    text = (FIXTURES / "SMH_yahoo.csv").read_text().splitlines()
    text[3] = text[3].replace("01/04/2024", "13/45/2024")
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataValidationError, match="row 3") as info:
        read_long_table(path, columns=YAHOO, symbol="SMH", date_format="%m/%d/%Y")
    assert info.value.field == "timestamp"


def test_a_date_format_that_does_not_fit_suggests_one() -> None:
    """The Yahoo export read without data.date_format: the first date fails, so the message
    shows it and the format that reads it (not a row error for every row)."""
    with pytest.raises(DataError) as err:
        read_long_table(FIXTURES / "SMH_yahoo.csv", columns=YAHOO, symbol="SMH")
    text = str(err.value)
    assert "row 1" in text and "field 'Date'" in text and "as ISO 8601" in text
    assert "set data.date_format=%m/%d/%Y" in text
    with pytest.raises(DataError, match=r"as data\.date_format=%Y-%m-%d"):
        read_long_table(
            FIXTURES / "SMH_yahoo.csv", columns=YAHOO, symbol="SMH", date_format="%Y-%m-%d"
        )


def test_missing_mapped_column_is_named(tmp_path) -> None:
    with pytest.raises(DataError, match="'Adj'"):
        read_long_table(FIXTURES / "SMH_yahoo.csv", columns={**YAHOO, "close": "Adj"}, symbol="SMH")


def test_wide_close_table_and_symbol_column(tmp_path) -> None:
    wide = tmp_path / "adj_close_wide.csv"
    wide.write_text(
        "date,DIA,SPY\n2024-01-02,370.1,472.6\n2024-01-03,368.2,\n2024-01-04,369.0,467.3\n"
    )
    frames = read_wide_closes(wide)
    assert len(frames["DIA"]) == 3 and len(frames["SPY"]) == 2
    assert (frames["SPY"]["open"] == frames["SPY"]["close"]).all()
    long = tmp_path / "long.csv"
    long.write_text(
        "ticker,ts,o,h,l,c,v\nAAA,2024-01-02 09:30,1,2,1,2,10\nBBB,2024-01-02 09:30,5,6,4,5,20\n"
    )
    out = read_long_table(
        long,
        columns={
            "timestamp": "ts",
            "open": "o",
            "high": "h",
            "low": "l",
            "close": "c",
            "volume": "v",
        },
        symbol_column="ticker",
        timeframe="1min",
    )
    assert set(out) == {"AAA", "BBB"}
    assert out["AAA"]["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")


def test_dropped_rows_are_reported(tmp_path) -> None:
    text = (FIXTURES / "SMH_yahoo.csv").read_text().splitlines()
    text[4] = "01/05/2024,null,null,null,null,null,null"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(text) + "\n")
    report = ValidationReport(source="csv")
    frames = read_long_table(
        path, columns=YAHOO, symbol="SMH", date_format="%m/%d/%Y", on_bad="drop", report=report
    )
    assert len(frames["SMH"]) == 14 and report.rows_not_stored() == {"non-numeric value": 1}
