"""Runs the dashboard's figure and page jobs in worker processes when there are enough of them."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

MAX_WORKERS = 8

T = TypeVar("T")
R = TypeVar("R")


def pmap(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[func(i) for i in items]``, in worker processes when there is enough work.

    Each matplotlib figure costs 0.1-0.5 s and a year of history has hundreds of
    group pages and thousands of change-point permutations, so a first build is
    spread over the cores. forkserver, not fork: safe in a threaded caller, and the
    server imports lseprof.reports.dashboard.build (so every page module) once for all workers.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    workers = min(cpus, MAX_WORKERS, len(items) // 4)
    if workers < 2:
        return [func(item) for item in items]
    try:
        context = multiprocessing.get_context("forkserver")
    except ValueError:  # a platform without it (Windows): draw here, just slower
        return [func(item) for item in items]
    context.set_forkserver_preload(["lseprof.reports.dashboard.build"])
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(func, items, chunksize=max(1, len(items) // (4 * workers))))
