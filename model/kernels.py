"""The compiled core of both clocks (``_fastcore.c``, built with OpenMP at install): the same
arithmetic as ``mechanisms.spreading``, ``decay`` and ``criticality`` (SPEC 4.1, 4.2, 4.4, 4.6)
and ``mechanisms.weights``, ``coherence`` and ``persistence`` (5.1–5.4), fused into fewer passes
without per-node temporaries, on as many threads as the work pays for.

Why (SPEC 11): at N = 10⁶ the numpy fast tick is three sparse products (spreading and two
power steps), each a scattered read of E or v that misses the cache, plus a dozen elementwise
passes. The compiled core makes three passes:

    prepare              E ← E + inject (4.1); ev ← [E·alive, v·alive] side by side
    spread_decay_power   gain = α·(Wᵀ·E)·alive;  E ← clamp(floor0((E + gain)·ret))  (4.2, 4.4)
                         av = alive·ret·(v + α·Wᵀ·v)/‖v‖  (4.6), from one gather of ev
    power_step           each further power step

and the slow tick's:

    slow_weights         5.1 decay of W and w, 5.2 Hebbian step and clips (one pass over the edges),
                         then the synaptic budget (each source's sum gathered through the reverse edges,
                         whose lines are scaled right away where the sum is over budget)
    coherence            5.3 forward bottom-up, adjoint top-down, γ step: one pass per depth
    observe, persist     5.4 reality (and its Σ q ln q) bottom-up; income, baseline, D_KL, R, pressure,
                         θ top-down
    level_sums           alive count and sums per depth, per fixed block (any thread count: the same bits)
    median               np.median over alive nodes: one pass over a window of values guessed from a
                         sample (narrowing histograms where the guess misses), no copy of the array
    shortfall            persistence's counts below 1 and in the band, and Σ relu(1 − R)², in one pass
    same                 whether two arrays hold the same bytes (the leaves' reality unchanged?)

The slow passes return whether every state value they wrote is finite; where they say so the model
skips its own finiteness pass over those arrays (it cost as much as a compiled pass). Rows of M = 4
categories run four numbers at a time (AVX2 with glibc's libmvec) where the CPU and build allow:
``vector_maths()``.

Results do not depend on the number of threads: rows are computed alone and every total is
summed per fixed block of ``BLOCK`` rows, then over the blocks in order (or serially in node
order). They equal the numpy engine's up to rounding (the same operations, sometimes in another
order of summation; tests check it). A pass runs serially below ``min_rows()`` rows per thread.
"""

from __future__ import annotations

import os
import warnings

from threadpoolctl import threadpool_limits

# GNU OpenMP threads spin (busy-wait) between parallel regions by default: on a machine where
# another process keeps a core busy they steal its time and the region waits for them. Sleeping
# waits cost a few microseconds per region, nothing next to a pass that is worth threads at all.
# libgomp reads this once, when it loads with the core below, so it is set first (a user's own
# setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

# OpenBLAS (numpy's and scipy's) wakes its own threads for vector operations as small as a dot
# product of 10⁴ items, and they busy-wait afterwards: in a 10⁶-node run they took 12 % of the CPU
# samples doing nothing, beside the compiled core's threads on 2 cores. Every BLAS call of the model
# is a memory-bound vector operation, so BLAS runs on one thread unless the user chose otherwise.
if not any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
    threadpool_limits(1, user_api="blas")

# The calls this module makes, as _fastcore.c numbers them: a build older than its source (a pull
# without `pip install -e .`, which ./dev.sh reruns when the source changes) is set aside, with a
# warning, instead of failing inside a tick.
API_VERSION = 4

try:
    from . import _fastcore
except ImportError:  # not built (a source tree without `pip install -e .`)
    _fastcore = None
if _fastcore is not None and getattr(_fastcore, "API_VERSION", None) != API_VERSION:
    warnings.warn(
        "the compiled core (model/_fastcore) was built from an older model/_fastcore.c: rebuild it with "
        "`pip install -e .` (./dev.sh does it); the numpy engine runs meanwhile",
        RuntimeWarning,
        stacklevel=2,
    )
    _fastcore = None

# columns of the per-block partial sums, in step with _fastcore.c
PREV_TOTAL, INJECTED, V_SQUARES, PREP_COLS = range(4)
BEFORE, AFTER, SQUARES, SATURATED, ACTIVE, AV_SQUARES, TYPE0 = range(7)
BLOCK = 4096
RET_TYPES = 128  # the length of a retention table by type (node types are one byte)
# observe's `leaves`: the leaves' q (and Σ q ln q) kept from the last call, softmax(z/τ), or sampled already
LEAVES_KEPT, LEAVES_SOFTMAX, LEAVES_SAMPLED = range(3)


def available() -> bool:
    """True when the compiled core is built."""
    return _fastcore is not None


def set_threads(n: int) -> None:
    """Threads of the compiled passes (e.g. 1 inside sweep workers, which are processes already)."""
    if _fastcore is not None:
        _fastcore.set_threads(int(n))


def threads() -> int:
    """Threads the compiled passes use (``OMP_NUM_THREADS`` or the number of cores by default)."""
    return _fastcore.get_threads() if _fastcore is not None else 1


def set_min_rows(rows: int) -> None:
    """Rows per thread below which a pass runs serially (default measured for 2 cores: see README)."""
    if _fastcore is not None:
        _fastcore.set_min_rows(int(rows))


def min_rows() -> int:
    """Rows per thread below which a pass runs serially."""
    return _fastcore.get_min_rows() if _fastcore is not None else 0


def vector_maths() -> bool:
    """True when persistence's rows of M = 4 run four numbers at a time (AVX2 and glibc's libmvec)."""
    if _fastcore is None:
        return False
    on = _fastcore.set_simd(True)
    _fastcore.set_simd(on)
    return bool(on)


def set_vector_maths(on: bool) -> bool:
    """Use the four-number path where the CPU and build have it (``on``), or the scalar one; returns
    whether it was on. The two agree to a few ulp (libmvec's exp and log against glibc's)."""
    return bool(_fastcore.set_simd(bool(on))) if _fastcore is not None else False


def threads_for(rows: int) -> int:
    """Threads a compiled pass over ``rows`` nodes runs on (1: serial, no parallel region)."""
    return _fastcore.threads_for(int(rows)) if _fastcore is not None else 1


def n_blocks(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK


if _fastcore is not None:
    assert (_fastcore.BLOCK, _fastcore.RET_TYPES) == (BLOCK, RET_TYPES), "_fastcore.c and kernels.py disagree"
    prepare = _fastcore.prepare
    spread_decay_power = _fastcore.spread_decay_power
    power_step = _fastcore.power_step
    slow_weights = _fastcore.slow_weights
    observe = _fastcore.observe
    persist = _fastcore.persist
    level_sums = _fastcore.level_sums
    median = _fastcore.median
    shortfall = _fastcore.shortfall
    same = _fastcore.same
    coherence = _fastcore.coherence
