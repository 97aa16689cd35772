"""Running work items in parallel with a progress bar: on an executor (a cluster), a process
pool (Python work: relaxations), or a thread pool (work that waits on subprocesses, such as
LAMMPS runs)."""
from __future__ import annotations

import os

__all__ = ["run_parallel", "share_slots"]


def run_parallel(fn, tasks, workers=None, executor=None, progress=True, desc="", processes=True, unit="task"):
    """``[fn(t) for t in tasks]`` in the order of the tasks.

    On ``executor`` if given (anything with ``submit(fn, task)`` returning an object with
    ``result()``), else on ``workers`` processes (``processes=True``; default: the machine's
    cores) or threads; one worker (or one task) runs here, serially.
    """
    from tqdm.auto import tqdm
    tasks = list(tasks)
    if not tasks:
        return []
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress, unit=unit)
    try:
        if executor is None:
            workers = workers or os.cpu_count() or 1
            if workers <= 1 or len(tasks) == 1:
                out = []
                for t in tasks:
                    out.append(fn(t))
                    bar.update()
                return out
            executor = _pool(workers, processes)
            owned = True
        else:
            owned = False
        try:
            futures = [executor.submit(fn, t) for t in tasks]
            out = []
            for f in futures:
                out.append(f.result())
                bar.update()
            return out
        finally:
            if owned:
                executor.shutdown()
    finally:
        bar.close()


def share_slots(n_tasks, slots, max_at_once=None):
    """(tasks at once, slots per task) for ``n_tasks`` tasks on ``slots`` slots (e.g. MPI ranks):
    as many at once as there are tasks (at most ``max_at_once`` and ``slots``), the slots shared
    out evenly among them."""
    at_once = max(1, min(n_tasks, slots, max_at_once or slots))
    return at_once, max(1, slots // at_once)


def _pool(workers, processes):
    if not processes:
        from concurrent.futures import ThreadPoolExecutor
        return ThreadPoolExecutor(workers)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    # fork where there is one: spawn would re-run the user's main script (or fail on stdin)
    methods = multiprocessing.get_all_start_methods()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork" if "fork" in methods else "spawn"))
