"""`make test` spreads the suite over the machine's cores (config/launcher.py parallel_arguments)
unless the caller's pytest arguments already choose how it runs."""

from __future__ import annotations

import pytest

from config.launcher import available_cores, parallel_arguments


@pytest.fixture(autouse=True)
def _no_addopts(monkeypatch):
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


def test_without_a_choice_the_suite_runs_on_every_core():
    assert parallel_arguments([], cores=4) == ["-n", "4", "--dist", "worksteal"]
    assert parallel_arguments(["tests/config", "-x", "-p", "no:cacheprovider"], cores=2) == [
        "-n",
        "2",
        "--dist",
        "worksteal",
        "tests/config",
        "-x",
        "-p",
        "no:cacheprovider",
    ]
    assert parallel_arguments(["-m", "not slow"], cores=2) == ["-n", "2", "--dist", "worksteal", "-m", "not slow"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["-n", "0"],
        ["-n0"],
        ["-n", "4", "tests/api"],
        ["--numprocesses=3"],
        ["--numprocesses", "auto"],
        ["--dist", "loadscope"],
        ["--dist=loadfile"],
        ["-p", "no:xdist"],
        ["-pno:xdist"],
        ["--lf"],
        ["--last-failed", "-x"],
        ["--sw"],
        ["--pdb", "tests/config"],
    ],
)
def test_the_callers_choice_is_left_as_given(arguments):
    assert parallel_arguments(arguments, cores=8) == arguments


def test_a_choice_in_pytest_addopts_counts_too(monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-n 0")
    assert parallel_arguments(["tests/config"], cores=8) == ["tests/config"]


def test_one_core_runs_in_one_process():
    assert parallel_arguments(["tests/config"], cores=1) == ["tests/config"]
    assert available_cores() >= 1
