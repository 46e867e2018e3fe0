"""Executors run the same picklable tasks in-process, in a process pool, or (later) on a cluster."""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` over tasks; results come back as they finish, in any order."""

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """Run ``fn(task)`` for every task and yield the results."""
        ...


class LocalExecutor:
    """One process (``workers=1``) or a pool of ``workers`` spawned processes on this machine."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """Run tasks inline, or in a pool when there is more than one worker and more than one task."""
        tasks = list(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            yield from map(fn, tasks)
            return
        # spawn, not fork: torch and Arrow keep threads that a forked child would inherit half-locked.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(fn, t) for t in tasks]
            for future in as_completed(futures):
                yield future.result()
