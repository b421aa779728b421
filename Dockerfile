FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
COPY config ./config
COPY breederhq ./breederhq
COPY tenant_app ./tenant_app
COPY marketplace_app ./marketplace_app
COPY payments_app ./payments_app
COPY manage.py ./
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir . && useradd --create-home breederhq
USER breederhq
EXPOSE 8000
# gunicorn reads its worker count from WEB_CONCURRENCY: one sync worker per core. On 2 cores the
# bench's worker comparison (bench/reports/latest.md) finds 3 or 5 sync workers, or gthread, slower
# than 2 for every figure measured; set it to the host's core count.
ENV WEB_CONCURRENCY=2
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]
