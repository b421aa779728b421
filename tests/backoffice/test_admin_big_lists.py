"""A back-office list of a big table counts nothing in full (breederhq/backoffice/admin_tools.
EstimatedCountPaginator): above settings.BACKOFFICE_EXACT_COUNT_BELOW rows it shows PostgreSQL's
estimate (one EXPLAIN), below it an exact COUNT(*); and its number of queries does not grow with
the table. The threshold is lowered here so that a few thousand rows stand for a million."""

from __future__ import annotations

import re

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

OUTBOX = reverse("admin:breederhq_tenantdboutboxmessage_changelist")
COUNT = re.compile(r"SELECT COUNT\(\*\)", re.IGNORECASE)


def _add_messages(n: int, *, topic: str = "test.bulk", status: str = "applied") -> None:
    with connections[TENANT_DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO outbox_messages (message_id, topic, payload, target_db, status, attempts, last_error,"
            " created_at) SELECT gen_random_uuid(), %s, '{}', 'marketplace', %s, 0, '', now() - i * interval '1 s'"
            " FROM generate_series(1, %s) AS i",
            [topic, status, n],
        )


def _changelist(client, **query):
    with CaptureQueriesContext(connections[TENANT_DB]) as queries:
        response = client.get(OUTBOX, query)
    assert response.status_code == 200
    return response.context["cl"], [q["sql"] for q in queries.captured_queries]


def _counts_of_outbox(sqls) -> list[str]:
    return [sql for sql in sqls if COUNT.search(sql) and "outbox_messages" in sql]


def test_a_big_list_shows_the_estimate_and_runs_no_count(superuser_client, settings):
    settings.BACKOFFICE_EXACT_COUNT_BELOW = 500
    _add_messages(3000)
    changelist, sqls = _changelist(superuser_client)
    assert _counts_of_outbox(sqls) == []
    assert any(sql.startswith("EXPLAIN") for sql in sqls)
    assert changelist.full_result_count is None  # no "(N total)": that would be a second full count
    # The planner's estimate (of a table not analysed yet: from its size on disk), above the threshold.
    assert changelist.result_count >= settings.BACKOFFICE_EXACT_COUNT_BELOW
    assert len(changelist.result_list) == changelist.list_per_page

    # Twice the rows: the same queries, still no count.
    _add_messages(3000)
    _, more = _changelist(superuser_client)
    assert len(more) == len(sqls) and _counts_of_outbox(more) == []


def test_a_narrow_filter_is_counted_exactly(superuser_client, settings):
    settings.BACKOFFICE_EXACT_COUNT_BELOW = 500
    _add_messages(3000)
    _add_messages(7, topic="test.rare", status="stuck")
    changelist, sqls = _changelist(superuser_client, status__exact="stuck")
    assert changelist.result_count == 7  # the estimate is small: counted, exactly
    assert len(_counts_of_outbox(sqls)) == 1


def test_a_page_past_the_real_end_is_empty_not_an_error(superuser_client, settings):
    settings.BACKOFFICE_EXACT_COUNT_BELOW = 500
    _add_messages(3000)
    changelist, _ = _changelist(superuser_client)
    last = changelist.paginator.num_pages
    response = superuser_client.get(OUTBOX, {"p": last})
    assert response.status_code == 200
