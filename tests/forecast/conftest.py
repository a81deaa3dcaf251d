"""Fixtures: a synthetic bars frame and tiny randomly initialised Toto / Kronos weights.

The tiny models are built from the real upstream classes and saved the way the real weights
are shipped (config.json + model.safetensors), so the production loaders read them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TOTO_CONFIG = {
    "patch_size": 8,
    "stride": 8,
    "embed_dim": 16,
    "num_layers": 2,
    "num_heads": 2,
    "mlp_hidden_dim": 32,
    "dropout": 0.0,
    "spacewise_every_n_layers": 2,
    "scaler_cls": "<class 'model.scaler.CausalPatchStdMeanScaler'>",
    "output_distribution_classes": ["<class 'model.distribution.MixtureOfStudentTsOutput'>"],
    "output_distribution_kwargs": {"k_components": 2},
    "spacewise_first": True,
    "use_memory_efficient_attention": False,
    "stabilize_with_global": True,
    "scale_factor_exponent": 10.0,
}

KRONOS_TOKENIZER = {
    "d_in": 6,
    "d_model": 16,
    "n_heads": 2,
    "ff_dim": 32,
    "n_enc_layers": 2,
    "n_dec_layers": 2,
    "ffn_dropout_p": 0.0,
    "attn_dropout_p": 0.0,
    "resid_dropout_p": 0.0,
    "s1_bits": 4,
    "s2_bits": 4,
    "beta": 0.05,
    "gamma0": 1.0,
    "gamma": 1.1,
    "zeta": 0.05,
    "group_size": 4,
}

KRONOS_MODEL = {
    "s1_bits": 4,
    "s2_bits": 4,
    "n_layers": 2,
    "d_model": 16,
    "n_heads": 2,
    "ff_dim": 32,
    "ffn_dropout_p": 0.0,
    "attn_dropout_p": 0.0,
    "resid_dropout_p": 0.0,
    "token_dropout_p": 0.0,
    "learn_te": True,
}


def make_bars(n: int = 240, seed: int = 3) -> pd.DataFrame:
    """Daily bars of a seeded geometric random walk (business days, UTC)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.004, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.004, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.004, n)))
    volume = rng.integers(100_000, 1_000_000, n).astype(np.float64)
    stamps = pd.bdate_range("2024-01-02", periods=n, tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars()


@pytest.fixture(scope="session")
def toto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Toto saved as config.json + model.safetensors."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("toto")
    from safetensors.torch import save_file
    from toto.model.toto import Toto

    torch.manual_seed(0)
    model = Toto(**TOTO_CONFIG)
    folder = tmp_path_factory.mktemp("toto_tiny")
    save_file(model.state_dict(), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(TOTO_CONFIG))
    return folder


@pytest.fixture(scope="session")
def kronos_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny random Kronos model and tokenizer saved with the hub mixin: (model, tokenizer)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sktime")
    from sktime.libs.kronos import Kronos, KronosTokenizer

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("kronos_tiny")
    KronosTokenizer(**KRONOS_TOKENIZER).save_pretrained(root / "tokenizer")
    Kronos(**KRONOS_MODEL).save_pretrained(root / "model")
    return root / "model", root / "tokenizer"
