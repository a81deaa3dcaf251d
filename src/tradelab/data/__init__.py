"""Market data: synthetic market, flat-file and CSV sources, the TradeStation and Massive
APIs, validation, Parquet store, resampling and universe selection."""

from __future__ import annotations

from tradelab.data.bars import BAR_COLUMNS, EXCHANGE_TZ, TIMEFRAMES, empty_bars
from tradelab.data.csv_source import read_long_table, read_wide_closes
from tradelab.data.fetchers import FlatFileFetcher, SyntheticFetcher, api_fetcher
from tradelab.data.flatfiles import read_day_files, scan_day_files, write_day_files
from tradelab.data.ingest import IngestSummary, ingest_flat_files
from tradelab.data.massive import MassiveFetcher
from tradelab.data.resample import resample_bars
from tradelab.data.staging import StoreTransaction, store_transaction
from tradelab.data.store import ParquetStore, StoreMeta, frame_hash
from tradelab.data.symbols import validate_symbol, validate_symbols
from tradelab.data.synthetic import GENERATOR_VERSION, MarketSpec, generate_market
from tradelab.data.tradestation import TradeStationFetcher
from tradelab.data.universe import Member, select_universe, universe_symbols
from tradelab.data.validation import ValidationReport, validate_bars

__all__ = [
    "BAR_COLUMNS",
    "EXCHANGE_TZ",
    "GENERATOR_VERSION",
    "TIMEFRAMES",
    "FlatFileFetcher",
    "IngestSummary",
    "MarketSpec",
    "MassiveFetcher",
    "Member",
    "ParquetStore",
    "StoreMeta",
    "StoreTransaction",
    "SyntheticFetcher",
    "TradeStationFetcher",
    "ValidationReport",
    "api_fetcher",
    "empty_bars",
    "frame_hash",
    "generate_market",
    "ingest_flat_files",
    "read_day_files",
    "read_long_table",
    "read_wide_closes",
    "resample_bars",
    "scan_day_files",
    "select_universe",
    "store_transaction",
    "universe_symbols",
    "validate_bars",
    "validate_symbol",
    "validate_symbols",
    "write_day_files",
]
