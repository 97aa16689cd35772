"""Running a function over training structures on the thread pool (the kernels release the GIL)."""
from __future__ import annotations

from ..core.threads import n_threads

__all__ = ["map_batches", "map_structures"]


def map_structures(fn, structures):
    """``[fn(k, structure) for k, structure in enumerate(structures)]`` on the shared thread pool.

    The structures are split into one contiguous batch per thread, balanced by atom count, so
    many small structures cost one hand-off per thread, not one per structure.
    """
    out = [None] * len(structures)

    def batch(lo, hi):
        for k in range(lo, hi):
            out[k] = fn(k, structures[k])
    map_batches(batch, [getattr(s, "n_atoms", 1) for s in structures])
    return out


def map_batches(fn, sizes):
    """``fn(lo, hi)`` on one contiguous batch of items per thread, balanced by ``sizes``; returns
    the list of the calls' results in order (a single call on one thread)."""
    n = len(sizes)
    nt = min(n_threads(), n)
    if nt <= 1:
        return [fn(0, n)]
    total = float(sum(sizes))
    bounds, acc = [0], 0.0
    for k, size in enumerate(sizes):
        acc += size
        if len(bounds) < nt and acc >= total * len(bounds) / nt and k + 1 < n:
            bounds.append(k + 1)
    bounds.append(n)
    pool = _pool(len(bounds) - 1)
    futures = [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    return [f.result() for f in futures]


_POOL = None


def _pool(size):
    global _POOL
    from concurrent.futures import ThreadPoolExecutor
    if _POOL is None or _POOL._max_workers < size:
        _POOL = ThreadPoolExecutor(max_workers=size, thread_name_prefix="pyiron_mtp_training")
    return _POOL
