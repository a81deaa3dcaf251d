"""Benchmark: PBO by CSCV, numba kernel vs a straightforward NumPy loop over the splits.

Run: NUMBA_CACHE_DIR=.numba_cache .venv/bin/python bench/pbo.py [n_configs]
Prints splits/s (and config-splits/s) of both and their ratio, measured in this process.
"""

from __future__ import annotations

import itertools
import math
import sys
import time

import numpy as np

from tradelab.robustness import block_sums, equal_blocks, pbo_from_block_sums


def numpy_pbo(ret_sum: np.ndarray, ret_sq: np.ndarray, block_n: np.ndarray, n_splits: int):
    """Reference: for each split, sum the IS blocks with NumPy, Sharpe, argmax, rank."""
    n_cfg, n_blocks = ret_sum.shape
    logits = []
    for is_blocks in itertools.islice(
        itertools.combinations(range(n_blocks), n_blocks // 2), n_splits
    ):
        mask = np.zeros(n_blocks, dtype=bool)
        mask[list(is_blocks)] = True
        perf = []
        for m in (mask, ~mask):
            n = block_n[m].sum()
            s = ret_sum[:, m].sum(axis=1)
            q = ret_sq[:, m].sum(axis=1)
            mean = s / n
            sd = np.sqrt(np.maximum((q - n * mean * mean) / (n - 1), 0.0))
            perf.append(np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0))
        best = int(np.argmax(perf[0]))
        oos = perf[1]
        rank = (oos < oos[best]).sum() + ((oos == oos[best]).sum() + 1) / 2
        omega = rank / (n_cfg + 1)
        logits.append(math.log(omega / (1 - omega)))
    return np.array(logits)


def main() -> None:
    n_cfg = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_obs, n_blocks = 2520, 16
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0002, 0.01, (n_obs, n_cfg))
    s, q, n = block_sums(returns, equal_blocks(n_obs, n_blocks), n_blocks)
    pbo_from_block_sums(s[:4], q[:4], n)  # compile (or load from the cache)

    t0 = time.perf_counter()
    res = pbo_from_block_sums(s, q, n)
    t_nb = time.perf_counter() - t0
    n_ref = 400
    t0 = time.perf_counter()
    ref = numpy_pbo(s, q, n, n_ref)
    t_np = time.perf_counter() - t0
    # the kernel's first results cover the same splits in the same order (block 0 in IS)
    assert np.allclose(ref, res.logits[0 : 2 * n_ref : 2])

    nb_rate = res.n_splits / t_nb
    np_rate = n_ref / t_np
    print(f"configs N={n_cfg}, blocks S={n_blocks}, splits={res.n_splits}, PBO={res.pbo:.3f}")
    print(
        f"numba kernel : {t_nb:8.3f} s  {nb_rate:12,.0f} splits/s  "
        f"{nb_rate * n_cfg:14,.0f} config-splits/s"
    )
    print(
        f"numpy loop   : {n_np_time(t_np, n_ref, res.n_splits):8.3f} s* {np_rate:12,.0f} splits/s  "
        f"{np_rate * n_cfg:14,.0f} config-splits/s"
    )
    print(f"ratio numba / numpy: {nb_rate / np_rate:.1f}x   (* extrapolated from {n_ref} splits)")


def n_np_time(t: float, done: int, total: int) -> float:
    return t * total / done


if __name__ == "__main__":
    main()
