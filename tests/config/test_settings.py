"""Production settings refuse to start when unsafe, with a message that says what to do."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent
GOOD_KEY = "k" * 20 + "Q9x!zR2mVw8#pL5tYb7nC3dF6gH1jK4sA0eU"


def import_production_settings(**environment):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings.production"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("key", ["", "django-insecure-abc", "short-secret", "a" * 60])
def test_production_refuses_an_insecure_secret_key(key):
    result = import_production_settings(SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY is insecure for production" in result.stderr


def test_production_refuses_debug():
    result = import_production_settings(SECRET_KEY=GOOD_KEY, DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG must be off in production" in result.stderr


def test_production_starts_with_a_good_key_and_debug_off():
    result = import_production_settings(SECRET_KEY=GOOD_KEY, DEBUG="false")
    assert result.returncode == 0, result.stderr


def test_env_example_lists_every_variable_the_settings_read():
    from tests.config.settings_variables import READ_ELSEWHERE, variables_read_by_settings

    listed = {
        line.split("=", 1)[0].strip()
        for line in (BASE_DIR / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert variables_read_by_settings() - listed == set()
    assert listed - variables_read_by_settings() - READ_ELSEWHERE == set()
