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
# gunicorn reads its worker count from WEB_CONCURRENCY (set it for the host). 3 sync workers on 2
# cores: the bench's worker table (bench/reports/latest.md) finds 2 and 3 level for the measured
# endpoints and 5 or gthread slower on the CPU-bound reads, and the third worker keeps the site
# answering while two requests wait on Stripe (a refund calls it in the request, up to
# STRIPE_TIMEOUT_SECONDS).
ENV WEB_CONCURRENCY=3
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]
