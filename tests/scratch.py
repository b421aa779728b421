"""Scratch folders for the throwaway PostgreSQL clusters some tests start (the read-replica pair,
tests/replica/pair.py, and the PITR drill, tests/breederhq/test_pitr_drill.py).

In memory (/dev/shm, a tmpfs) when it has room, else the usual temporary folder. These clusters are
deleted when their test ends and nothing recovers them after a machine crash, so a disk's durability
buys nothing there, while it costs: on a disk, every fsync the tools do (pg_basebackup syncs its
copy) and deleting the thousands of files of a few clusters take seconds each. Recovery from a base
backup and archived WAL (the drill's subject) reads the same files on either medium.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MEMORY = Path("/dev/shm")
#: Free room the memory folder must have to be used. A container's /dev/shm is often 64 MB, and the
#: servers' own dynamic shared memory lives there too: a drill or a pair needs a few hundred MB.
MEMORY_ROOM_NEEDED = 1 << 30


def memory_root() -> Path | None:
    """/dev/shm when it is a writable folder with MEMORY_ROOM_NEEDED free, else None."""
    try:
        stats = os.statvfs(MEMORY)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < MEMORY_ROOM_NEEDED or not os.access(MEMORY, os.W_OK | os.X_OK):
        return None
    return MEMORY


def scratch_dir(prefix: str) -> Path:
    """A new, empty folder for a throwaway cluster; the caller deletes it."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=memory_root()))
