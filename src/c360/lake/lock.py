"""One writer per lake at a time.

Two `c360 ingest` processes on the same lake would race on manifests and state. An advisory
``flock`` is released by the kernel when its process dies, even by SIGKILL, so a crash never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from c360.errors import C360Error


class LakeBusyError(C360Error):
    exit_code = 3


@contextmanager
def writer_lock(lake_dir: Path, purpose: str) -> Iterator[None]:
    lake_dir.mkdir(parents=True, exist_ok=True)
    path = lake_dir / "writer.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LakeBusyError(
                f"the lake at {lake_dir} is busy: {holder}",
                hint="wait for it to finish, or stop it; this run changed nothing",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{purpose} (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
