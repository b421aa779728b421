"""Running a probe (`python -m bench.probes.<name>`) in the bench's environment."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.environment import BASE_DIR


class ProbeFailed(RuntimeError):
    pass


def probe(environment: dict, name: str, *args: str, check: bool = True):
    """The JSON of the probe's last line of output; ProbeFailed (its last error line) if it exits
    non-zero."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.probes.{name}", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit code {result.returncode}"]
        raise ProbeFailed(f"{name}: {lines[-1][:300]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
