"""Result files in the seed's layout, written atomically.

<output_dir>/<model>/<SYMBOL>.json
    <model> is the model's `name`: seed 002's `toto`, `kronos_standard` (option `model=kronos`)
    and `kronos_ensemble` by default; `model_type` is the seed's name of its type
    (`ModelType.seed_name`).
    {"symbol": "AAPL", "model_type": "toto",
     "config": {"num_samples": 128, "aggregate": "trimmed_mean_15", ...},
     "validation": {"price_mae": 1.89, "pct_return_mae": 0.0152, "latency_s": 2.33, ...},
     "baselines": {...}, "study": {...}}
<summary_file>
    {"results": [{"symbol": "AAPL", "best_model": "toto", "best_mae": 0.0152, ...}]}
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.atomic import write_text_atomic
from tradelab.data.symbols import validate_symbol
from tradelab.errors import DataError

__all__ = ["read_result", "result_path", "write_strict_json"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def result_path(output_dir: str | Path, model: str, symbol: str) -> Path:
    """Return `<output_dir>/<model>/<SYMBOL>.json` (model: snake_case name)."""
    if not _NAME_RE.match(model):
        raise ValueError(f"model.name {model!r}: use lower-case letters, digits and '_'")
    return Path(output_dir) / model / f"{validate_symbol(symbol)}.json"


def write_strict_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as strict JSON (no NaN) atomically."""
    return write_text_atomic(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def read_result(path: str | Path) -> dict[str, Any]:
    """Read a result file, checking the fields the seed defines (DataError otherwise)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read result ({exc})", file=source) from exc
    for key in ("symbol", "model_type", "config", "validation"):
        if key not in data:
            raise DataError("result file lacks a field", file=source, field=key)
    if "pct_return_mae" not in data["validation"]:
        raise DataError(
            "result file lacks a metric", file=source, field="validation.pct_return_mae"
        )
    return data


def _jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN and infinities become null (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
