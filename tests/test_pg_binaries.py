"""tests/pg_binaries.py reads a PostgreSQL major version from what `pg_ctl --version` prints,
release or not, and gives None for anything else."""

import pytest

from tests.pg_binaries import major_version


@pytest.mark.parametrize(
    ("printed", "major"),
    [
        ("pg_ctl (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)", 15),
        ("pg_ctl (PostgreSQL) 16.4", 16),
        ("pg_ctl (PostgreSQL) 18beta1", 18),
        ("pg_ctl (PostgreSQL) 9.6.24", 9),
        ("something else entirely", None),
    ],
)
def test_major_version_of_what_pg_ctl_prints(tmp_path, printed, major):
    pg_ctl = tmp_path / "pg_ctl"
    pg_ctl.write_text(f"#!/bin/sh\necho '{printed}'\n")
    pg_ctl.chmod(0o755)
    assert major_version(str(tmp_path)) == major


def test_no_pg_ctl_is_no_version(tmp_path):
    assert major_version(str(tmp_path)) is None
