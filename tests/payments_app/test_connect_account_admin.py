"""Support staff see where each Connect account's onboarding stands in admin, in a constant number of
queries whatever the number of accounts."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from breederhq.databases import DATABASE_ALIASES, TENANT_DB
from payments_app.models import StripeConnectAccount
from tenant_app.models import User
from tests.factories.tenant import TenantFactory
from tests.payments_app.conftest import connect_account, every_row
from tests.staff import staff_login

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))

CHANGELIST = "admin:payments_app_stripeconnectaccount_changelist"


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser(
        username="sam@breederhq.test", email="sam@breederhq.test", password="pw-123456!"
    )
    return staff_login(client, user)


def onboarding_account(**requirements):
    account = connect_account(tenant=TenantFactory(), status="restricted")
    every_row(StripeConnectAccount).filter(pk=account.pk).update(
        charges_enabled=True,
        payouts_enabled=False,
        account_type="express",
        disabled_reason="requirements.past_due",
        **requirements,
    )
    return account


def _page(client, query: str = "") -> tuple[int, str]:
    with CaptureQueriesContext(connections[TENANT_DB]) as queries:
        response = client.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_onboarding_state_is_shown_and_filterable(staff_client):
    account = onboarding_account(
        requirements_currently_due=["external_account", "tos_acceptance.date"],
        requirements_past_due=["external_account"],
    )
    _, page = _page(staff_client, "?status=restricted&details_submitted__exact=1")
    assert account.stripe_account_id in page
    assert "2 (1): external_account, tos_acceptance.date" in page
    assert "requirements.past_due" in page
    change = staff_client.get(reverse("admin:payments_app_stripeconnectaccount_change", args=[account.pk]))
    assert change.status_code == 200
    assert "tos_acceptance.date" in change.content.decode()


def test_the_list_runs_a_constant_number_of_queries(staff_client):
    counts = {}
    for size in (1, 5, 20):
        while every_row(StripeConnectAccount).count() < size:
            onboarding_account(requirements_currently_due=["external_account"])
        counts[size], _ = _page(staff_client)
    assert counts[1] == counts[5] == counts[20], counts
