"""ruff's rules and formatting ([tool.ruff] in pyproject.toml, docs/contributing.md) hold for the whole
repository: `make test` fails on a style break, as `.ci/run` does."""

import subprocess
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess:
    pytest.importorskip("ruff", reason="ruff is not installed (it is a dev dependency: make install)")
    from ruff.__main__ import find_ruff_bin

    return subprocess.run([find_ruff_bin(), *args], cwd=BASE_DIR, capture_output=True, text=True)


def test_ruff_finds_nothing():
    result = ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed!" in result.stdout


def test_every_file_is_formatted():
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already formatted" in result.stdout
