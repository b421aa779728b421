"""config/gunicorn.py: the settings the Dockerfile, docker-compose.yml and the bench start gunicorn
with, read by gunicorn itself (`--print-config`), so a mistake in the file fails here, not on deploy."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

BASE_DIR = Path(__file__).resolve().parent.parent.parent
USE_THE_FILE = "-c python:config.gunicorn"


def gunicorn_settings(**environment: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WEB_CONCURRENCY"} | environment
    out = subprocess.run(
        [sys.executable, "-m", "gunicorn", *USE_THE_FILE.split(), "--print-config"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(re.findall(r"^(\w+)\s+= (.*)$", out, flags=re.MULTILINE))


def test_three_sync_workers_serving_the_project_by_default():
    settings = gunicorn_settings()
    assert (settings["workers"], settings["worker_class"], settings["wsgi_app"]) == (
        "3",
        "sync",
        "config.wsgi:application",
    )


def test_web_concurrency_sets_the_worker_count():
    assert gunicorn_settings(WEB_CONCURRENCY="5")["workers"] == "5"


def test_the_image_and_compose_start_gunicorn_with_the_file():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE).group(1)
    assert USE_THE_FILE.replace(" ", '", "') in cmd
    web = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]["web"]
    assert f"gunicorn {USE_THE_FILE} " in web["command"]
    assert web["environment"]["WEB_CONCURRENCY"] == "${WEB_CONCURRENCY:-3}"  # passed through to gunicorn
