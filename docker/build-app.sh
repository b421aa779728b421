#!/bin/sh
# The image's build-time steps for the application, run as root from the app directory by the
# Dockerfile (and by tests/config/test_docker_entry_commands.py on a copy). At run time the app directory
# is read-only to the app user: everything it must write is prepared here.
#   sh docker/build-app.sh <app user>
set -eu
app_user="${1:?usage: build-app.sh <app user>}"
# Static files baked into the image (WhiteNoise serves them from STATIC_ROOT, /app/staticfiles);
# only the static-files settings matter here, so no secret or database is needed.
DJANGO_SETTINGS_MODULE=config.settings.base python -m django collectstatic --no-input --verbosity 0
# The application's bytecode, compiled once here: at run time the app directory is read-only (and
# PYTHONDONTWRITEBYTECODE is set), so without it every process (web, worker, beat, each migrate
# step, every worker health check) would compile the modules it imports from source again.
python -m compileall -q .
# The media folder, owned by the app user: a new named volume mounted there takes its owner.
mkdir -p "${MEDIA_ROOT:?MEDIA_ROOT must be set}"
chown "$app_user" "$MEDIA_ROOT"
chmod 0750 "$MEDIA_ROOT"
# The Prometheus multiprocess folder (web, worker and beat write their metrics there), when set.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    chown "$app_user" "$PROMETHEUS_MULTIPROC_DIR"
fi
