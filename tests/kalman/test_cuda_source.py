"""The CuPy backend's CUDA source, compiled for the host with a small shim, matches NumPy.

The shim turns `__global__`/`__device__` into plain functions and loops over thread ids,
so the kernels' arithmetic and indexing are checked on machines without a GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tradelab.kalman import numpy_backend
from tradelab.kalman.cupy_backend import CUDA_SOURCE

COMPILER = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")

SHIM = r"""
#include <math.h>
#define __global__
#define __device__
struct Dim3 { long long x; };
static Dim3 blockIdx = {0}, blockDim = {1}, threadIdx = {0};
"""

LAUNCHERS = r"""
extern "C" void host_local_level(const double* prices, const double* q, const double* r,
    double x0, double p0, long long n_bars, long long n_sets, long long lookback, double z_eps,
    double* levels, double* residuals, double* variances, double* slopes, double* z) {
    for (threadIdx.x = 0; threadIdx.x < n_sets + 3; ++threadIdx.x)
        local_level_tm(prices, q, r, x0, p0, n_bars, n_sets, lookback, z_eps,
                       levels, residuals, variances, slopes, z);
}
extern "C" void host_hedge_ratio(const double* a, const double* b, const double* delta,
    const double* obs_r, double beta0, double p0, long long n_bars, long long n_sets,
    double* betas, double* spreads, double* variances) {
    for (threadIdx.x = 0; threadIdx.x < n_sets + 3; ++threadIdx.x)
        hedge_ratio_tm(a, b, delta, obs_r, beta0, p0, n_bars, n_sets, betas, spreads, variances);
}
extern "C" void host_rolling_zscore(const double* x, long long n_bars, long long n_series,
    long long window, long long lag, double eps, double fill, int zero_std_nan, double* out) {
    for (threadIdx.x = 0; threadIdx.x < n_series + 3; ++threadIdx.x)
        rolling_zscore_tm(x, n_bars, n_series, window, lag, eps, fill, zero_std_nan, out);
}
"""

pytestmark = pytest.mark.skipif(COMPILER is None, reason="no C++ compiler on PATH")

D = ctypes.c_double
LL = ctypes.c_longlong
P = ctypes.POINTER(ctypes.c_double)


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    folder = tmp_path_factory.mktemp("cuda_host")
    source = folder / "kernels.cpp"
    source.write_text(SHIM + CUDA_SOURCE + LAUNCHERS)
    target = folder / "kernels.so"
    cmd = [
        str(COMPILER),
        "-O1",
        "-ffp-contract=off",
        "-shared",
        "-fPIC",
        str(source),
        "-o",
        str(target),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return ctypes.CDLL(str(Path(target)))


def _p(arr: np.ndarray) -> ctypes._Pointer:
    return arr.ctypes.data_as(P)


def test_local_level_kernel_matches_numpy(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(11)
    prices = 20.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 900)))
    q = rng.uniform(1e-5, 1e-3, 9)
    r = rng.uniform(1e-4, 1e-2, 9)
    outs = [np.zeros((900, 9)) for _ in range(5)]
    lib.host_local_level(
        _p(prices),
        _p(q),
        _p(r),
        D(prices[0]),
        D(1.0),
        LL(900),
        LL(9),
        LL(50),
        D(1e-10),
        *map(_p, outs),
    )
    ref = numpy_backend.local_level(prices, q, r, prices[0], 1.0, 50, 1e-10)
    for name, out in zip(ref._fields, outs):
        np.testing.assert_allclose(out.T, getattr(ref, name), rtol=1e-9, atol=1e-10, err_msg=name)


def test_hedge_ratio_kernel_matches_numpy(lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(12)
    b = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    a = 0.6 * b + 20 + rng.normal(0, 0.5, 400)
    b[7] = 0.0
    delta = np.array([1e-5, 1e-4, 1e-3])
    obs_r = np.array([1e-3, 1e-2, 1e-3])
    outs = [np.zeros((400, 3)) for _ in range(3)]
    lib.host_hedge_ratio(
        _p(a), _p(b), _p(delta), _p(obs_r), D(0.5), D(1.0), LL(400), LL(3), *map(_p, outs)
    )
    ref = numpy_backend.hedge_ratio(a, b, delta, obs_r, 0.5, 1.0)
    for name, out in zip(ref._fields, outs):
        np.testing.assert_allclose(out.T, getattr(ref, name), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(("window", "lag"), [(60, 0), (50, 1), (2, 0)])
def test_rolling_zscore_kernel_matches_numpy(lib: ctypes.CDLL, window: int, lag: int) -> None:
    rng = np.random.default_rng(13)
    x = np.cumsum(rng.normal(size=(6, 1000)), axis=1)
    x[2, 100:300] = 3.0
    x_tm = np.ascontiguousarray(x.T)
    out = np.zeros_like(x_tm)
    lib.host_rolling_zscore(
        _p(x_tm), LL(1000), LL(6), LL(window), LL(lag), D(0.0), D(np.nan), ctypes.c_int(1), _p(out)
    )
    ref = numpy_backend.rolling_zscore(x, window, lag, 0.0, np.nan, True)
    assert np.array_equal(np.isnan(out.T), np.isnan(ref))
    np.testing.assert_allclose(out.T, ref, rtol=1e-8, atol=1e-8, equal_nan=True)
