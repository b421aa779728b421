#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
    # Without TENANT_DATABASE_URL, MARKETPLACE_DATABASE_URL and REDIS_URL, the embedded PostgreSQL and
    # Redis under .local/ that `make run` uses (config/launcher.py), never a guessed 127.0.0.1:5432.
    from config.launcher import attach_services

    attach_services()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
