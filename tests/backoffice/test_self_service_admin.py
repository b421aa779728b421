"""The back-office pages of the self-service tables (account tokens, the account audit log, listing
images, listing moderation): read-only, no token secret shown, and each change list runs the same
number of queries however many rows it shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.secret_tokens import new_secret_token
from marketplace_app.models import ListingModeration, ServiceListingImage
from tenant_app.models import AccountAuditLog, AccountToken
from tests.factories.marketplace import ProviderFactory, make_listing
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def add_token():
    user = UserFactory()
    token, token_hash = new_secret_token()
    AccountToken.objects.using(TENANT_DB).create(
        user=user,
        purpose="verify_email",
        email=user.email,
        token_hash=token_hash,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return token_hash


def add_audit():
    AccountAuditLog.objects.using(TENANT_DB).create(user_id=UserFactory().pk, action="signed_up")


def add_image():
    listing = make_listing(ProviderFactory())
    ServiceListingImage.objects.using(MARKETPLACE_DB).create(
        listing=listing, original="marketplace/x.jpg", content_type="image/jpeg", width=10, height=10
    )


def add_moderation():
    listing = make_listing(ProviderFactory())
    ListingModeration.objects.using(MARKETPLACE_DB).create(
        listing=listing, hidden=True, reason="spam", hidden_at=timezone.now()
    )


CASES = [
    ("tenant_app", "accounttoken", add_token),
    ("tenant_app", "accountauditlog", add_audit),
    ("marketplace_app", "servicelistingimage", add_image),
    ("marketplace_app", "listingmoderation", add_moderation),
]


def queries(client, url) -> int:
    with (
        CaptureQueriesContext(connections[TENANT_DB]) as tenant,
        CaptureQueriesContext(connections[MARKETPLACE_DB]) as marketplace,
    ):
        assert client.get(url).status_code == 200
    return len(tenant) + len(marketplace)


@pytest.mark.parametrize(("app", "model", "add"), CASES, ids=[c[1] for c in CASES])
def test_the_change_list_runs_constant_queries_and_is_read_only(support_client, app, model, add):
    url = reverse(f"admin:{app}_{model}_changelist")
    add()
    few = queries(support_client, url)
    for _ in range(4):
        add()
    assert queries(support_client, url) == few
    assert support_client.get(reverse(f"admin:{app}_{model}_add")).status_code == 403


def test_a_tokens_page_shows_no_hash(superuser_client):
    token_hash = add_token()
    row = AccountToken.objects.using(TENANT_DB).get(token_hash=token_hash)
    for url in (
        reverse("admin:tenant_app_accounttoken_changelist"),
        reverse("admin:tenant_app_accounttoken_change", args=[row.pk]),
    ):
        page = superuser_client.get(url)
        assert page.status_code == 200 and token_hash not in page.content.decode()
