"""Running shard tasks on a Ray cluster: a pool of actors, each loading its models once, with bounded retries.

Ray is imported only when this executor is built (``pip install 'filterkit[ray]'``).
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from filterkit.engine.executors import Executor, TaskFailure

log = logging.getLogger(__name__)
_RETRYING = object()
T = TypeVar("T")
R = TypeVar("R")


class _Worker:
    """A long-lived process: the detector cache in filterkit.engine.tasks makes each model load once per worker."""

    def run(self, fn: Callable[[Any], Any], task: Any) -> Any:
        return fn(task)


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail at once, before any work, when a ``host:port`` Ray address does not answer."""
    if ":" not in address.removeprefix("ray://"):
        return  # "auto" and friends: Ray finds the cluster itself
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"Ray cluster at {address!r} cannot be reached: {exc}") from exc


class RayExecutor(Executor):
    """Runs tasks on Ray actors: ``workers`` of them (default: the cluster's CPUs), ``num_gpus`` each."""

    distributed = True
    """Corpus-wide steps that can spread over tasks do (``reduce_parallel``) instead of running in one actor."""

    def __init__(self, address: str | None = None, workers: int | None = None, num_gpus: float = 0.0,
                 retries: int = 2, num_cpus: int | None = None) -> None:
        import ray

        if address:
            check_address(address)
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=num_cpus if not address else None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        self._ray = ray
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.num_gpus = num_gpus
        self.retries = retries
        self.actors: list[Any] = []

    def _actor(self) -> Any:
        return self._ray.remote(num_cpus=1, num_gpus=self.num_gpus)(_Worker).remote()

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R | TaskFailure]:
        """Keep every actor busy with one task; a failed task goes to another actor, up to ``retries`` times."""
        ray = self._ray
        queue = [(t, 1) for t in tasks]
        if not queue:
            return
        self.actors = [self._actor() for _ in range(min(self.workers, len(queue)))]
        idle = list(range(len(self.actors)))
        running: dict[Any, tuple[int, Any, int]] = {}
        try:
            while queue or running:
                while queue and idle:
                    slot = idle.pop()
                    task, attempt = queue.pop(0)
                    running[self.actors[slot].run.remote(fn, task)] = (slot, task, attempt)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                slot, task, attempt = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    # The worker process died (killed, out of memory): replace it, retry the task elsewhere.
                    self.actors[slot] = self._actor()
                    result = self._retry(task, attempt, exc, queue)
                except ray.exceptions.RayTaskError as exc:
                    result = self._retry(task, attempt, exc.cause or exc, queue)
                idle.append(slot)
                if result is not _RETRYING:
                    yield result
        finally:
            for actor in self.actors:
                ray.kill(actor)
            self.actors = []

    def _retry(self, task: Any, attempt: int, exc: BaseException, queue: list) -> Any:
        if attempt <= self.retries:
            log.warning("task failed on Ray (attempt %d): %r; retrying", attempt, exc)
            queue.append((task, attempt + 1))
            return _RETRYING
        return TaskFailure(task, repr(exc), attempt)
