"""Weights checks: missing or corrupt files fail early with what to download and where."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tradelab.errors import ModelUnavailableError
from tradelab.forecast.registry import check_available
from tradelab.forecast.settings import BaselinesModelConfig, KronosModelConfig
from tradelab.forecast.weights import check_weights_dir


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write a valid safetensors file by hand (header length, JSON header, raw data)."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"embed_dim": 4}))
    write_safetensors(folder / "model.safetensors", {"w": np.ones((2, 3)), "b": np.zeros(3)})
    return folder


def test_intact_weights_pass(weights: Path) -> None:
    assert check_weights_dir(weights, "toto") == weights


def test_missing_directory_says_what_to_download(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        check_weights_dir(tmp_path / "nowhere", "toto")
    text = str(info.value)
    assert "Datadog/Toto-Open-Base-1.0" in text and str(tmp_path / "nowhere") in text
    assert "model.weights_dir" in text


def test_missing_file_is_named(weights: Path) -> None:
    (weights / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailableError, match=r"missing model\.safetensors"):
        check_weights_dir(weights, "kronos")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-5]), "truncated"),
        (lambda p: p.write_bytes(b"\x00" * 4), "bytes long"),
        (lambda p: p.write_bytes(struct.pack("<Q", 10**9) + b"{}"), "past the end"),
        (lambda p: p.write_bytes(struct.pack("<Q", 3) + b"abc"), "not JSON"),
    ],
)
def test_corrupt_safetensors_is_caught(weights: Path, damage, message: str) -> None:
    damage(weights / "model.safetensors")
    with pytest.raises(ModelUnavailableError, match=message):
        check_weights_dir(weights, "toto")


def test_corrupt_config_is_caught(weights: Path) -> None:
    (weights / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match=r"config .* is corrupt"):
        check_weights_dir(weights, "toto")


def test_check_available_reports_instead_of_raising(tmp_path: Path) -> None:
    reason = check_available(
        KronosModelConfig(weights_dir=str(tmp_path / "m"), tokenizer_dir=str(tmp_path))
    )
    assert reason is not None and "NeoQuasar/Kronos-small" in reason
    assert check_available(BaselinesModelConfig()) is None
