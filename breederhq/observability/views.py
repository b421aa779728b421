import hmac

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST

from breederhq.observability.metrics import render_latest

LOOPBACK = {"127.0.0.1", "::1"}


def metrics(request):
    """Prometheus scrape endpoint: `Authorization: Bearer $METRICS_TOKEN`, or loopback when no token is set."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return HttpResponseForbidden("metrics need the bearer token (METRICS_TOKEN)\n")
    elif request.META.get("REMOTE_ADDR") not in LOOPBACK:
        return HttpResponseForbidden("metrics are served to loopback only unless METRICS_TOKEN is set\n")
    return HttpResponse(render_latest(), content_type=CONTENT_TYPE_LATEST)
