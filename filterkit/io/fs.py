"""Filesystems by URI: local paths, pyarrow's own (``s3://``, ``gs://``, ``hdfs://``) and any fsspec protocol.

Every input and output path of a run is a string that is either a local path or a URI; ``resolve`` turns it
into a pyarrow filesystem and a path on it. Filesystems are cached per process, so a worker connects once.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pyarrow.fs as pafs

LOCAL = pafs.LocalFileSystem()
_PYARROW_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names a store other than the local disk."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    return scheme not in ("", "file", "local")


@lru_cache(maxsize=16)
def _filesystem(scheme_and_authority: str) -> pafs.FileSystem:
    scheme = scheme_and_authority.split("://", 1)[0]
    if scheme in _PYARROW_SCHEMES:
        fs, _ = pafs.FileSystem.from_uri(scheme_and_authority)
        return fs
    import fsspec  # only where a store needs it: fsspec's protocols (hf://, memory://, az://, ...)

    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(scheme)))


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem that holds ``uri`` and the path of ``uri`` on it (absolute, for local paths)."""
    if not is_remote(uri):
        return LOCAL, str(Path(uri.removeprefix("file://")).resolve())
    scheme, rest = uri.split("://", 1)
    if scheme in _PYARROW_SCHEMES:
        # Options ride in the query (s3://bucket/key?endpoint_override=...): one filesystem per distinct set.
        path, _, query = rest.partition("?")
        fs = _filesystem(f"{scheme}://{path.split('/', 1)[0]}" + (f"?{query}" if query else ""))
        return fs, path
    fs = _filesystem(f"{scheme}://")
    # The store's own spelling of the path (memory:// roots paths at /), so listed paths share its prefix.
    return fs, fs.handler.fs._strip_protocol(uri)


def join(uri: str, *parts: str) -> str:
    """``uri`` with path parts appended, keeping a URI's query (its filesystem options) at the end."""
    base, sep, query = uri.partition("?") if is_remote(uri) else (uri, "", "")
    return "/".join([base.rstrip("/"), *parts]) + (sep + query if sep else "")


def size(uri: str) -> int:
    """Bytes in the file at ``uri``."""
    fs, path = resolve(uri)
    return fs.get_file_info(path).size


def local_path(uri: str) -> str:
    """The absolute local path of a non-remote ``uri``."""
    return os.path.abspath(uri.removeprefix("file://"))
