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
CMD ["gunicorn", "config.wsgi", "--workers", "3", "--bind", "0.0.0.0:8000"]
