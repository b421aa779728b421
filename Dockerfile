FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MEDIA_ROOT=/app/media \
    PROMETHEUS_MULTIPROC_DIR=/app/metrics
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 breederhq
COPY pyproject.toml ./
COPY config ./config
COPY breederhq ./breederhq
COPY tenant_app ./tenant_app
COPY marketplace_app ./marketplace_app
COPY payments_app ./payments_app
COPY demo ./demo
COPY manage.py ./
COPY docker/build-app.sh ./docker/build-app.sh
RUN pip install --no-cache-dir .
# As root, at build time: static files collected into the (root-owned, read-only at run time) image,
# and the media and metrics folders owned by the app user (docker/build-app.sh).
RUN sh docker/build-app.sh breederhq
# Everything runs as this unprivileged user; it writes only to MEDIA_ROOT (a volume),
# PROMETHEUS_MULTIPROC_DIR (a volume shared by web, worker and beat) and /tmp.
USER breederhq
EXPOSE 8000
# Worker settings live in config/gunicorn.py (WEB_CONCURRENCY sync workers, 3 when unset), the same
# file the bench serves with.
CMD ["gunicorn", "-c", "python:config.gunicorn", "--bind", "0.0.0.0:8000"]
