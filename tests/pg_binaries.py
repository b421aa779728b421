"""The PostgreSQL binaries for the throwaway clusters some tests start (the read-replica pair,
tests/replica/pair.py, and the PITR drill, tests/breederhq/test_pitr_drill.py).

`find_bindir()` looks, in order, at the host's installed binaries (`pg_config --bindir`, then
/usr/lib/postgresql/*/bin newest first: `breederhq.pitr.system_bindirs`, as `pitr_restore` does) and
the binaries bundled with the pgserver package (the embedded default, config/launcher.py),
preferring the major version of the server the suite runs on: a cluster that takes a `pg_dump` of a
test database must be at least that version, and the embedded server (pgserver's) is often newer
than the system's binaries.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from breederhq.pitr import system_bindirs

#: What a cluster of the pair needs; the drill asks for more.
NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "pg_dump", "psql")


def major_version(bindir: str) -> int | None:
    try:
        out = subprocess.run(
            [os.path.join(bindir, "pg_ctl"), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # "pg_ctl (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+1)", "pg_ctl (PostgreSQL) 18beta1"
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(found.group(1)) if found else None


def candidates(needed: tuple[str, ...] = NEEDED) -> list[str]:
    found = [str(path) for path in system_bindirs()]
    try:
        import pgserver

        found.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin"))
    except ImportError:
        pass
    return [path for path in found if all(os.access(os.path.join(path, name), os.X_OK) for name in needed)]


def find_bindir(server_major: int | None = None, needed: tuple[str, ...] = NEEDED) -> str | None:
    """A folder with every binary in `needed`, of `server_major` when there is one (else the first found)."""
    found = candidates(needed)
    for path in found:
        if server_major is None or major_version(path) == server_major:
            return path
    return found[0] if found else None
