"""Executors run the same picklable tasks in-process, in a process pool, or on a Ray cluster.

A task that keeps failing is retried ``retries`` times, then comes back as a ``TaskFailure`` instead of a result:
the run goes on with the other shards and reports the failed ones, rather than losing everything.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)
_PARENT_POLL_S = 0.5
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed on every attempt, with its last error."""

    task: Any
    error: str
    attempts: int




class Executor(ABC):
    """Runs ``fn`` over tasks; results (or ``TaskFailure``) come back as they finish, in any order.

    ``workers`` is how many tasks run at once (the pipeline cuts corpus-wide work into ``2 * workers``
    partitions); ``distributed`` says the workers may be other machines, where a corpus-wide step spreads over
    many tasks (``CorpusDetector.reduce_parallel``) rather than running in one process.
    """

    workers: int = 1
    distributed: ClassVar[bool] = False

    @abstractmethod
    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R | TaskFailure]:
        """Run ``fn(task)`` for every task and yield the results."""

    def runs_inline(self, tasks: int) -> bool:
        """Whether ``map_unordered`` over ``tasks`` tasks runs them in this process, so that ``fn`` may hold what
        does not pickle (a progress callback). Default: no."""
        return False

    def pmap(self, fn: Callable[[T], R], tasks: list[T]) -> list[R]:
        """Every task's result, or RuntimeError naming the first task that failed on every attempt."""
        results = list(self.map_unordered(fn, tasks))
        errors = [r for r in results if isinstance(r, TaskFailure)]
        if errors:
            raise RuntimeError(f"{len(errors)} of {len(tasks)} {fn.__name__} tasks failed: {errors[0].error}")
        return results  # type: ignore[return-value]


class LocalExecutor(Executor):
    """One process (``workers=1``) or a pool of ``workers`` spawned processes on this machine."""

    def __init__(self, workers: int = 1, retries: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.retries = retries

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R | TaskFailure]:
        """Run tasks inline, or in a pool when there is more than one worker and more than one task."""
        tasks = list(tasks)
        if self.runs_inline(len(tasks)):
            for task in tasks:
                yield self._inline(fn, task)
            return
        # spawn, not fork: torch and Arrow keep threads that a forked child would inherit half-locked.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context,
                                   initializer=exit_with_parent, initargs=(os.getpid(),))
        try:
            pending: dict[Future, tuple[Any, int]] = {pool.submit(fn, t): (t, 1) for t in tasks}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task, attempt = pending.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        raise  # a worker died (killed, out of memory): the pool is gone; a rerun resumes
                    except Exception as exc:
                        if attempt <= self.retries:
                            log.warning("task failed (attempt %d): %r; retrying", attempt, exc)
                            pending[pool.submit(fn, task)] = (task, attempt + 1)
                        else:
                            yield TaskFailure(task, repr(exc), attempt)
        finally:
            pool.shutdown(cancel_futures=True)

    def runs_inline(self, tasks: int) -> bool:
        """One worker, or at most one task: no pool, the tasks run here."""
        return self.workers == 1 or tasks <= 1

    def _inline(self, fn: Callable[[T], R], task: T) -> R | TaskFailure:
        for attempt in range(1, self.retries + 2):
            try:
                return fn(task)
            except Exception as exc:
                log.warning("task failed (attempt %d): %r", attempt, exc)
                error = repr(exc)
        return TaskFailure(task, error, self.retries + 1)


def exit_with_parent(parent: int) -> None:
    """Make this process exit soon after ``parent`` is gone (a pool worker's initializer).

    A pool's workers outlive a driver killed by SIGKILL, each holding its models, and keep the pool's resource
    tracker alive with them: a daemon thread ends the worker once its parent has changed (the dead driver's
    children pass to another process), and the tracker then sees its last user go and exits too.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="filterkit-exit-with-parent", daemon=True).start()
