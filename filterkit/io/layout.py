"""Where every file of a run lives: one place that names them, so tasks, reports and resume agree.

A run's outputs (kept/, removed/, quarantine/, the report) live under its root, a local path or a URI; its
working files (shards' scores, keys, markers) always live on the local disk (or a disk every worker shares),
under ``root/_work`` for a local root and in ``work_root(root)`` or a directory the caller names otherwise.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import filelock

from filterkit.io.fs import is_remote, join, local_path
from filterkit.io.sources import Shard
from filterkit.io.storage import delete_tree, list_files


class OutputInUseError(RuntimeError):
    """Another run holds the output's working directory."""


def work_root(root: str) -> Path:
    """The default local working directory of a run whose outputs go to a remote ``root``."""
    return Path.home() / ".cache" / "filterkit" / "work" / hashlib.sha256(root.encode()).hexdigest()[:16]


class Layout:
    """Paths of a run's outputs (strings: local paths or URIs) and of its local working files."""

    def __init__(self, root: str | Path, work: str | Path | None = None, output_format: str = "parquet") -> None:
        root = str(root)
        self.root = root if is_remote(root) else local_path(root)
        self.work = Path(work) if work else (work_root(root) if is_remote(root) else Path(self.root) / "_work")
        self.output_format = output_format

    def out(self, *parts: str) -> str:
        """A path under the output root."""
        return join(self.root, *parts)

    @property
    def manifest(self) -> str:
        """What the run is: config and inputs; a resume must match it."""
        return self.out("_run.json")

    @property
    def plan(self) -> Path:
        """Shards and unreadable files, fixed on the first run."""
        return self.work / "plan.json"

    def kept(self, shard: Shard) -> str:
        """Rows kept (every row, in tag and weight modes)."""
        return self.out("kept", f"{shard.name}.{self.output_format}")

    def removed(self, shard: Shard) -> str:
        """Rows removed, with their scores and ``filter_reason``."""
        return self.out("removed", f"{shard.name}.{self.output_format}")

    def quarantine(self, shard: Shard) -> str:
        """Rows that could not be processed, with the reason and error."""
        return self.out("quarantine", f"{shard.name}.{self.output_format}")

    def samples(self, shard: Shard) -> Path:
        """A shard's score columns and decisions, which the report summarises and plots."""
        return self.work / "samples" / f"{shard.name}.parquet"

    def scored(self, shard: Shard) -> Path:
        """Valid rows with row-local scores, waiting for the corpus-wide step."""
        return self.work / "scored" / f"{shard.name}.parquet"

    def keys_dir(self, detector: str) -> Path:
        """Keys a corpus-wide detector emitted, one file per shard."""
        return self.work / "keys" / detector

    def keys(self, detector: str, shard: Shard) -> Path:
        """Keys of one shard for one corpus-wide detector."""
        return self.keys_dir(detector) / f"{shard.name}.parquet"

    def reduced(self, detector: str, shard_name: str) -> Path:
        """Per-row results of a corpus-wide detector for one shard."""
        return self.work / "reduced" / detector / f"{shard_name}.parquet"

    def stats(self, phase: str, shard: Shard | str) -> Path:
        """Counts and timings one task wrote (``shard``: the shard or its name)."""
        return self.work / "stats" / f"{phase}-{shard if isinstance(shard, str) else shard.name}.json"

    def reduce_stats(self, detector: str) -> Path:
        """Rows and timing of one corpus-wide detector's reduce."""
        return self.work / "stats" / f"reduce-{detector}.json"

    def marker(self, name: str) -> Path:
        """Marker that says a task finished."""
        return self.work / "done" / name

    def is_done(self, name: str) -> bool:
        """Whether a task finished in an earlier (possibly killed) invocation."""
        return self.marker(name).exists()

    def mark_done(self, name: str) -> None:
        """Record that a task finished; called after its outputs are in place."""
        path = self.marker(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def unmark(self, name: str) -> None:
        """Forget that a task finished, so that it runs again."""
        self.marker(name).unlink(missing_ok=True)

    @property
    def lock(self) -> Path:
        """The file a run holds locked while it works: one run at a time on a working directory."""
        return self.work / ".lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the working directory's lock for the block, or raise ``OutputInUseError`` at once.

        The operating system drops the lock when its holder dies, even by SIGKILL, so a killed run never leaves
        its output locked. The lock file stays (deleting it would let a second run lock a new file beside a held
        one), unless the block fails before it wrote any working file: then it goes with the directories made for it.
        """
        made = [p for p in (self.work, *self.work.parents) if not p.exists()]
        self.work.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.lock, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise OutputInUseError(f"{self.root} is in use: another filterkit run holds {self.lock}; let it finish, "
                                   "or write to another output") from None
        try:
            yield
        except BaseException:
            if made and all(p.name == self.lock.name for p in self.work.iterdir()):
                self.lock.unlink(missing_ok=True)  # still held: no other run can have it
                for p in made:
                    with contextlib.suppress(OSError):
                        p.rmdir()
            raise
        finally:
            lock.release()

    def holds_files(self) -> bool:
        """Whether the outputs or the working directory hold any file but the lock file."""
        local = [self.work.absolute()] if is_remote(self.root) else [Path(self.root), self.work.absolute()]
        lock = self.lock.absolute()
        return (is_remote(self.root) and bool(list_files(self.root))) or any(
            p != lock and not p.is_dir() for d in local if d.is_dir() for p in d.rglob("*"))

    def clear(self) -> None:
        """Delete the outputs and the working files, all but the lock file a run holds."""
        if is_remote(self.root):
            delete_tree(self.root)
        else:
            _clear(Path(self.root), self.lock)
        _clear(self.work, self.lock)

    @property
    def report_json(self) -> str:
        """Machine-readable report."""
        return self.out("report.json")


def _clear(directory: Path, keep: Path) -> None:
    """Remove everything under ``directory`` except the file ``keep`` (and the directories that hold it)."""
    directory, keep = directory.absolute(), keep.absolute()
    if not directory.is_dir():
        return
    for p in directory.iterdir():
        if p == keep:
            continue
        if p.is_dir() and not p.is_symlink():
            if keep.is_relative_to(p):
                _clear(p, keep)
            else:
                shutil.rmtree(p)
        else:
            p.unlink()
