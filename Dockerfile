FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PROMETHEUS_MULTIPROC_DIR=/app/metrics
WORKDIR /app
COPY pyproject.toml ./
COPY config ./config
COPY breederhq ./breederhq
COPY tenant_app ./tenant_app
COPY marketplace_app ./marketplace_app
COPY payments_app ./payments_app
COPY manage.py ./
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir . && useradd --create-home breederhq \
    && mkdir -p /app/metrics && chown breederhq /app/metrics
USER breederhq
EXPOSE 8000
# Worker settings live in config/gunicorn.py (WEB_CONCURRENCY sync workers, 3 when unset), the same
# file the bench serves with.
CMD ["gunicorn", "-c", "python:config.gunicorn", "--bind", "0.0.0.0:8000"]
