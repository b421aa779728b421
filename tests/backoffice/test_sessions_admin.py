"""Staff void a user's API tokens from the back office: the audited "sign out everywhere" action, and
the admin's password form (any password change signs the user out everywhere)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.api.conftest import body, send_json, sign_in
from tests.backoffice.test_actions import run
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
USERS = reverse("admin:tenant_app_user_changelist")
ME, REFRESH = "/api/v1/auth/me/", "/api/v1/auth/token/refresh/"


def read(access: str):
    return Client(headers={"Authorization": f"Bearer {access}"}).get(ME)


def refused(response) -> bool:
    return response.status_code == 401 and body(response)["code"] == "authentication_failed"


def test_support_signs_a_user_out_everywhere_and_it_is_audited(support_client):
    user, bystander = UserFactory(), UserFactory()
    pair, theirs = sign_in(user), sign_in(bystander)
    assert read(pair["access"]).status_code == 200
    response = run(support_client, USERS, "sign_out_everywhere", [user.pk], reason="ticket #12: phone stolen")
    assert response.status_code == 302
    assert refused(read(pair["access"]))
    assert refused(send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]}))
    assert read(theirs["access"]).status_code == 200
    audit = StaffActionAudit.objects.get()
    assert (audit.actor_username, audit.action, audit.target_model, audit.target_id, audit.reason) == (
        "sue.support@breederhq.test",
        "sign_out_everywhere",
        "tenant_app.User",
        str(user.pk),
        "ticket #12: phone stolen",
    )
    assert audit.result.startswith("tokens issued before ")


def test_staff_without_the_support_permission_cannot(bare_staff_client):
    user = UserFactory()
    access = sign_in(user)["access"]
    bare_staff_client.post(
        USERS,
        {
            "action": "sign_out_everywhere",
            "_selected_action": [user.pk],
            "confirmed": "yes",
            "reason": "no right to do this",
        },
    )
    assert read(access).status_code == 200
    assert not StaffActionAudit.objects.exists()


def test_a_password_set_in_the_admin_voids_the_users_tokens(superuser_client):
    user = UserFactory()
    pair = sign_in(user)
    assert read(pair["access"]).status_code == 200
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = superuser_client.post(
        url, {"password1": "Another-pass-789", "password2": "Another-pass-789", "usable_password": "true"}
    )
    assert response.status_code == 302, response.content[:2000]
    assert refused(read(pair["access"]))
    assert refused(send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]}))
    assert read(sign_in(user, password="Another-pass-789")["access"]).status_code == 200


def test_signing_out_everywhere_also_ends_the_users_django_sessions(support_client):
    """The admin action ends the user's Django sessions too: a session signed in to the API (and, for
    staff, to the back office), not only the API tokens."""
    user, bystander = UserFactory(), UserFactory()
    browser, other = Client(), Client()
    browser.force_login(user)
    other.force_login(bystander)
    assert browser.get(ME).status_code == 200
    assert run(support_client, USERS, "sign_out_everywhere", [user.pk], reason="account taken over").status_code == 302
    assert browser.get(ME).status_code == 401
    assert "_auth_user_id" not in browser.session
    assert other.get(ME).status_code == 200


def test_a_second_factor_reset_signs_the_staff_member_out_everywhere(superuser_client, support_client):
    sue = support_client.user
    access = sign_in(sue)["access"]
    assert read(access).status_code == 200
    response = run(superuser_client, USERS, "reset_second_factor", [sue.pk], reason="lost her phone")
    assert response.status_code == 302
    assert refused(read(access))
    assert support_client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))
