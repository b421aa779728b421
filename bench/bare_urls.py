"""The bare baseline server's only URL (bench/bare_settings.py)."""

from django.urls import path

from bench.baseline import baseline

urlpatterns = [path("bench/baseline", baseline)]
