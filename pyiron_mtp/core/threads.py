"""Running GIL-free Numba kernels over atom ranges on a thread pool."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
MIN_ATOMS_PER_THREAD = 16


def n_threads() -> int:
    """Threads to use: numba's setting (``NUMBA_NUM_THREADS`` / ``numba.set_num_threads``)."""
    return numba.get_num_threads()


def range_bounds(n_items):
    """Bounds of the contiguous ranges :func:`run_ranges` splits 0..n_items into."""
    nt = min(n_threads(), max(1, n_items // MIN_ATOMS_PER_THREAD))
    return [k * n_items // nt for k in range(nt + 1)]


def run_ranges(kernel, n_items, *args):
    """Call ``kernel(lo, hi, *args)`` on contiguous ranges covering 0..n_items, in parallel
    (the ranges of :func:`range_bounds`).

    Returns the list of the kernels' return values.
    """
    global _POOL, _POOL_SIZE
    bounds = range_bounds(n_items)
    nt = len(bounds) - 1
    if nt <= 1:
        return [kernel(0, n_items, *args)]
    if _POOL is None or _POOL_SIZE < nt - 1:
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(max_workers=nt - 1, thread_name_prefix="pyiron_mtp")
        _POOL_SIZE = nt - 1
    # the calling thread takes the first range itself
    futures = [_POOL.submit(kernel, bounds[k], bounds[k + 1], *args) for k in range(1, nt)]
    first = kernel(bounds[0], bounds[1], *args)
    return [first] + [f.result() for f in futures]
