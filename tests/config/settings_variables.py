"""What environment variables the settings read, found in the settings source itself."""

import re
from pathlib import Path

SETTINGS_DIR = Path(__file__).resolve().parent.parent.parent / "config" / "settings"
# env("NAME", ...), env.bool("NAME", ...), env.db_url("NAME", ...), and _database("NAME", ...)
_READ = re.compile(r"""\b(?:env(?:\.\w+)?|_database)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
# _database("URL_VAR", default, "TEST_NAME_VAR")
_TEST_NAME = re.compile(r"""_database\(\s*["'][A-Z_]+["'],\s*\w+,\s*["']([A-Z][A-Z0-9_]*)["']""")
# Set by tooling, not by operators: pytest-xdist and the test launcher.
TOOLING = {"PYTEST_XDIST_WORKER", "TEST_SESSION_ID"}


def variables_read_by_settings() -> set[str]:
    names: set[str] = set()
    for path in SETTINGS_DIR.glob("*.py"):
        source = path.read_text()
        names |= set(_READ.findall(source)) | set(_TEST_NAME.findall(source))
    return names - TOOLING


# Read outside the settings modules: by manage.py/wsgi/celery, by the launcher (make run) and by
# config/gunicorn.py (WEB_CONCURRENCY).
READ_ELSEWHERE = {
    "DJANGO_SETTINGS_MODULE",
    "PORT",
    "WEB_CONCURRENCY",
    "BREEDERHQ_LOCAL_DIR",
    "PROMETHEUS_MULTIPROC_DIR",
}
