"""The sync workers config/gunicorn.py starts in this environment (its own reading of
WEB_CONCURRENCY).

    python -m bench.probes.gunicorn_workers   (a number out)
"""

import config.gunicorn


def main() -> None:
    print(config.gunicorn.workers)


if __name__ == "__main__":
    main()
