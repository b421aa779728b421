"""/metrics is protected and reports what matters; logs are JSON with context and no secrets."""

import io
import json
import logging

import pytest

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB
from breederhq.observability import context
from breederhq.observability.logging import JsonFormatter
from breederhq.tasks import ping

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def metric_lines(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "scrape-me-please"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert "breederhq_http_request_duration_seconds" in metric_lines(
        client, HTTP_AUTHORIZATION="Bearer scrape-me-please"
    )


def test_without_a_token_only_loopback_may_scrape(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_request_latency_is_labelled_by_route_pattern_and_queries_by_database(client, settings):
    settings.METRICS_TOKEN = ""
    client.get("/healthz")
    body = metric_lines(client)
    assert 'breederhq_http_request_duration_seconds_count{method="GET",route="healthz",status="503"}' in body
    assert 'database="marketplace"' in body
    assert 'database="default"' in body


def test_the_listing_search_is_labelled_by_its_select_not_by_its_time_limit(client):
    from prometheus_client import REGISTRY

    def searches_counted(operation: str) -> float:
        return (
            REGISTRY.get_sample_value(
                "breederhq_db_query_duration_seconds_count",
                {"database": MARKETPLACE_DB, "table": "service_listings", "operation": operation},
            )
            or 0
        )

    before = {operation: searches_counted(operation) for operation in ("SELECT", "OTHER")}
    assert client.get("/api/v1/marketplace/listings/", {"q": "grooming"}).status_code == 200
    # One page of nothing found: the page's statement, then the plain COUNT.
    assert searches_counted("SELECT") == before["SELECT"] + 2
    assert searches_counted("OTHER") == before["OTHER"]


def test_celery_task_outcomes_are_counted(client, settings):
    settings.METRICS_TOKEN = ""
    ping.apply()
    assert 'breederhq_celery_tasks_total{outcome="success",task="breederhq.tasks.ping"}' in metric_lines(client)


def format_record(message, *args, **extra) -> dict:
    record = logging.LogRecord("breederhq.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_with_the_request_and_task_context():
    tokens = [context.request_id.set("req-123456"), context.task_id.set("task-9"), context.tenant_id.set("7")]
    try:
        line = format_record("invoice %s issued", 42)
    finally:
        for var, token in zip((context.request_id, context.task_id, context.tenant_id), tokens, strict=True):
            var.reset(token)
    assert line["message"] == "invoice 42 issued"
    assert (line["request_id"], line["task_id"], line["tenant"], line["level"]) == ("req-123456", "task-9", "7", "INFO")
    assert "request_id" not in format_record("after the request")


@pytest.mark.parametrize(
    "secret",
    [
        "sk_live_51HxYzAbCdEf",
        "whsec_abcdef123456",
        "4242 4242 4242 4242",
        "4000-0566-5566-5556",
        "Bearer eyJhbGciOiJIUzI1NiJ9.payload",
        "password=hunter2",
    ],
)
def test_secrets_and_card_numbers_never_reach_the_log(secret):
    line = format_record(
        "calling stripe with %s",
        secret,
        payload={"card_number": "4242424242424242", "api_key": "k", "amount_cents": 1200},
    )
    text = json.dumps(line)
    assert secret not in text
    assert "4242424242424242" not in text
    assert line["extra"]["payload"]["amount_cents"] == 1200


def test_every_response_carries_a_request_id_and_keeps_a_valid_incoming_one(client):
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="client-req-0001")["X-Request-ID"] == "client-req-0001"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id; drop table")["X-Request-ID"] != "bad id; drop table"


def test_request_logs_in_json_carry_the_request_id(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client.get("/api/v1/definitely-missing")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "Not Found: /api/v1/definitely-missing"
    assert line["request_id"] == response["X-Request-ID"]
    # Once the response is closed the id is gone: the next log line is not labelled with it.
    assert "request_id" not in format_record("between requests")


def test_cross_database_resolution_latency_is_recorded_per_target_table(client, settings):
    from breederhq.crossdb import resolve
    from marketplace_app.models import MarketplaceUser
    from tenant_app.models import User

    settings.METRICS_TOKEN = ""
    staff = User.objects.create(username="m@example.test", email="m@example.test")
    buyer = MarketplaceUser.objects.create(email="m@example.test", display_name="M", tenant_user_id=staff.pk)
    assert resolve([buyer], "tenant_user_id")[0].obj == staff
    assert 'breederhq_crossdb_resolution_duration_seconds_count{target_table="users"}' in metric_lines(client)


def test_invoice_transitions_are_counted_for_both_kinds(client, settings):
    from marketplace_app import services as market
    from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory

    settings.METRICS_TOKEN = ""
    buyer, provider = MarketplaceUserFactory(), ProviderFactory()
    tx = market.transaction_create(provider_id=provider.pk, client_id=buyer.pk, amount_cents=1_000)
    invoice = market.marketplace_invoice_create(transaction_id=tx.pk, line_items=[market.LineItem("Walk", 1_000)])
    market.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=invoice.version)
    body = metric_lines(client)
    assert (
        'breederhq_invoice_transitions_total{from_status="draft",kind="marketplace_invoice",'
        'payment_mode="manual",to_status="sent"}'
    ) in body


def test_throttled_responses_are_counted_not_logged_one_by_one(client, settings, caplog):
    """A client past its throttle gets a 429 per request: Django would log each (a flood whose rate
    the client sets); they are counted in the request metric instead. Other 4xx are still logged."""
    import random

    from prometheus_client import REGISTRY

    from tests.factories.marketplace import ProviderFactory

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public_read_ip": "1/min"},
    }
    ProviderFactory()
    labels = {"route": "api/v1/marketplace/providers/", "method": "GET", "status": "429"}

    def refused() -> float:
        return REGISTRY.get_sample_value("breederhq_http_request_duration_seconds_count", labels) or 0

    before = refused()
    ip, other = (f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}" for _ in range(2))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        codes = [client.get("/api/v1/marketplace/providers/", REMOTE_ADDR=ip).status_code for _ in range(4)]
        assert client.get("/api/v1/marketplace/providers/999999999/", REMOTE_ADDR=other).status_code == 404
    assert codes == [200, 429, 429, 429]
    assert refused() - before == 3
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert [getattr(record, "status_code", None) for record in logged] == [404]
