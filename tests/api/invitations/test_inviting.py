"""Inviting: no membership without the invitee's consent and no answer revealing an account, who may
invite whom, the lists of invitations, and the invitation email as it is sent."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit, CrossTenantQueryAudit
from tenant_app.models import TenantInvitation
from tests.api.conftest import bearer, body, member, send_json
from tests.api.invitations.conftest import (
    ACCEPT,
    CONTACTS,
    INVITATIONS,
    MEMBERS,
    MINE,
    audit_rows,
    comparable,
    emails_to,
    invitation,
    invite,
    memberships_of,
    token_for,
)
from tests.factories.tenant import TenantFactory, UserFactory
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


# --- The defect: membership by email needed no consent and revealed accounts --------------------------


class TestNoMembershipWithoutConsent:
    @pytest.mark.parametrize("path", [MEMBERS, INVITATIONS])
    def test_an_existing_account_and_an_unknown_address_get_the_same_answer_and_nobody_is_added(
        self, two_tenants, path
    ):
        a, b = two_tenants
        victim = member(b, "staff")
        victim_client = bearer(victim)  # a token naming tenant B only, no X-Tenant-ID
        assert victim_client.get(CONTACTS).status_code == 200
        owner = bearer(a.owner_user)
        known = send_json(owner, "post", path, {"email": victim.email.upper(), "role": "staff"})
        unknown = send_json(owner, "post", path, {"email": "nobody-here@example.test", "role": "staff"})
        assert known.status_code == unknown.status_code == (202 if path == MEMBERS else 201), known.content
        assert known["Content-Type"] == unknown["Content-Type"] == "application/json"
        assert sorted(body(known)) == sorted(body(unknown))
        assert comparable(body(known)) == comparable(body(unknown))
        assert "user" not in body(known)
        assert body(known)["status"] == "pending"
        # Not a member of A; the victim's own access is as it was.
        assert memberships_of(a) == [(a.owner_user.email, "owner")]
        assert victim_client.get(CONTACTS).status_code == 200
        assert bearer(victim).get(CONTACTS).status_code == 200
        # Both addresses were simply sent an invitation.
        assert len(emails_to(victim.email.upper())) == len(emails_to("nobody-here@example.test")) == 1
        assert [row[0] for row in audit_rows(a)] == ["invited", "invited"]
        assert all(row[2] is None for row in audit_rows(a))  # the audit does not say who has an account

    def test_the_invitation_emails_are_the_same_words_whether_or_not_an_account_exists(self, two_tenants):
        a, _ = two_tenants
        UserFactory(email="has-account@example.test")
        owner = bearer(a.owner_user)
        invite(owner, "has-account@example.test")
        invite(owner, "no-account@example.test")
        with_account, without = emails_to("has-account@example.test")[0], emails_to("no-account@example.test")[0]
        for a_part, b_part in (
            (with_account.subject, without.subject),
            (with_account.text_body, without.text_body),
            (with_account.html_body, without.html_body),
        ):
            normalise = re.compile(r"(has|no)-account@example\.test|[A-Za-z0-9_-]{40,}")
            assert normalise.sub("X", a_part) == normalise.sub("X", b_part)


# --- Inviting -----------------------------------------------------------------------------------------


class TestInvite:
    def test_the_invitation_is_emailed_with_a_token_stored_only_as_a_hash(self, two_tenants, settings):
        settings.TENANT_INVITATION_ACCEPT_URL = "https://app.example.test/join?token={token}"
        a, _ = two_tenants
        before = timezone.now()
        response = invite(bearer(a.owner_user), "Groomer.Gail@Example.test", "admin")
        assert response.status_code == 201, response.content
        data = body(response)
        assert (data["email"], data["role"], data["status"], data["invited_by"]["email"]) == (
            "Groomer.Gail@Example.test",
            "admin",
            "pending",
            a.owner_user.email,
        )
        expires = timezone.datetime.fromisoformat(data["expires_at"])
        assert before + timedelta(days=7) <= expires <= timezone.now() + timedelta(days=7)
        email = emails_to("Groomer.Gail@Example.test")[0]
        token = token_for("Groomer.Gail@Example.test")
        assert len(token) >= 40
        assert f"https://app.example.test/join?token={token}" in email.text_body
        assert f'href="https://app.example.test/join?token={token}"' in email.html_body
        assert a.name in email.subject and a.name in email.text_body
        assert token not in response.content.decode()
        row = invitation(a, data["id"])
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([str(v) for v in row.__dict__.values()])
        assert audit_rows(a) == [("invited", "Groomer.Gail@Example.test", None, "", "admin", a.owner_user.email)]

    @pytest.mark.parametrize("role", ["staff", "viewer"])
    def test_staff_and_viewers_may_not_invite_or_list_and_the_refusal_is_audited(self, two_tenants, role):
        a, _ = two_tenants
        client = bearer(member(a, role))
        for response in (
            invite(client, "late@example.test"),
            client.get(INVITATIONS),
            send_json(client, "post", MEMBERS, {"email": "late@example.test", "role": "staff"}),
        ):
            assert (response.status_code, body(response)["code"]) == (403, "role_forbidden")
        assert (
            AuthorizationAudit.objects.using(TENANT_DB)
            .filter(resource_type__in=["invitations", "memberships"], allowed=False)
            .count()
            == 3
        )
        assert emails_to("late@example.test") == []

    def test_an_admin_invites_staff_but_only_an_owner_invites_an_owner(self, two_tenants):
        a, _ = two_tenants
        admin = bearer(member(a, "admin"))
        assert invite(admin, "s@example.test", "staff").status_code == 201
        refused = invite(admin, "o@example.test", "owner")
        assert (refused.status_code, body(refused)["code"]) == (403, "owner_role_forbidden")
        assert emails_to("o@example.test") == []
        assert invite(bearer(a.owner_user), "o@example.test", "owner").status_code == 201

    def test_a_member_of_this_tenant_is_409_and_malformed_input_400(self, two_tenants):
        a, _ = two_tenants
        staff = member(a, "staff")
        client = bearer(a.owner_user)
        again = invite(client, staff.email.upper())
        assert (again.status_code, body(again)["code"]) == (409, "already_a_member")
        wrong = send_json(client, "post", INVITATIONS, {"email": "not-an-email", "role": "king", "x": 1})
        assert (wrong.status_code, sorted(body(wrong)["errors"])) == (400, ["x"])
        wrong = send_json(client, "post", INVITATIONS, {"email": "not-an-email", "role": "king"})
        assert (wrong.status_code, sorted(body(wrong)["errors"])) == (400, ["email", "role"])
        assert wrong["Content-Type"] == "application/problem+json"

    def test_inviting_again_replaces_the_pending_invitation(self, two_tenants):
        a, _ = two_tenants
        person = UserFactory(email="twice@example.test")
        client = bearer(a.owner_user)
        first = body(invite(client, "twice@example.test", "viewer"))
        old_token = token_for("twice@example.test")
        second = body(invite(client, "TWICE@example.test", "staff"))
        new_token = token_for("TWICE@example.test")
        assert invitation(a, first["id"]).status == "revoked"
        refused = send_json(bearer(person), "post", ACCEPT, {"token": old_token})
        assert (refused.status_code, body(refused)["code"]) == (409, "invitation_revoked")
        accepted = send_json(bearer(person), "post", ACCEPT, {"token": new_token})
        assert (accepted.status_code, body(accepted)["role"]) == (201, "staff")
        assert invitation(a, second["id"]).status == "accepted"

    def test_a_replayed_invite_answers_the_same_and_invites_once(self, two_tenants):
        a, _ = two_tenants
        client = bearer(a.owner_user)
        first = invite(client, "once@example.test", **{"Idempotency-Key": "inv-1"})
        again = invite(client, "once@example.test", **{"Idempotency-Key": "inv-1"})
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
        assert body(again) == body(first)
        assert len(emails_to("once@example.test")) == 1


class TestLists:
    def test_the_invitee_lists_open_invitations_sent_to_their_email_only(self, two_tenants):
        a, b = two_tenants
        person = UserFactory(email="popular@example.test")
        invite(bearer(a.owner_user), "Popular@Example.test", "viewer")
        invite(bearer(b.owner_user), "popular@example.test", "admin")
        invite(bearer(b.owner_user), "someone-else@example.test", "admin")
        rows = body(bearer(person).get(MINE))["results"]
        assert sorted((r["tenant_name"], r["role"], r["status"]) for r in rows) == [
            ("A", "viewer", "pending"),
            ("B", "admin", "pending"),
        ]
        assert "token" not in json.dumps(rows)
        assert body(bearer(UserFactory()).get(MINE))["results"] == []
        # Reading one's own invitations is no cross-tenant read: nothing audited, nothing to flood.
        for _ in range(3):
            assert bearer(person).get(MINE).status_code == 200
        assert not CrossTenantQueryAudit.objects.using(TENANT_DB).exists()

    def test_the_addressee_policy_shows_an_account_only_the_invitations_to_its_own_email(self, two_tenants):
        """Straight at the database, as the application role: with only the user named (no tenant),
        the invitations to their address are visible, nobody else's."""
        from breederhq.tenancy import own_rows_context

        a, b = two_tenants
        person = UserFactory(email="me@example.test")
        invite(bearer(a.owner_user), "ME@example.test", "viewer")
        invite(bearer(b.owner_user), "other@example.test", "admin")
        with own_rows_context(person.pk):
            assert list(TenantInvitation.objects.values_list("email", flat=True)) == ["ME@example.test"]
        with own_rows_context(UserFactory().pk):
            assert not TenantInvitation.objects.exists()

    def test_owners_and_admins_list_their_tenants_invitations_only(self, two_tenants):
        a, b = two_tenants
        invite(bearer(a.owner_user), "one@example.test")
        invite(bearer(b.owner_user), "two@example.test")
        for client in (bearer(a.owner_user), bearer(member(a, "admin"))):
            rows = body(client.get(INVITATIONS))["results"]
            assert [(r["email"], r["status"]) for r in rows] == [("one@example.test", "pending")]
        theirs = body(bearer(b.owner_user).get(INVITATIONS))["results"][0]["id"]
        assert bearer(a.owner_user).get(f"{INVITATIONS}{theirs}/").status_code == 404
        assert bearer(a.owner_user).delete(f"{INVITATIONS}{theirs}/").status_code == 404
        assert invitation(b, theirs).status == "pending"


# --- The email, sent ----------------------------------------------------------------------------------


def test_the_queued_invitation_is_sent_with_text_and_html(two_tenants):
    from django.core import mail

    from breederhq.email import email_send

    a, _ = two_tenants
    invite(bearer(a.owner_user), "sent@example.test", "viewer")
    queued = emails_to("sent@example.test")[0]
    token = token_for("sent@example.test")
    email_send(using=TENANT_DB, pk=queued.pk)
    [message] = mail.outbox
    assert message.to == ["sent@example.test"] and token in message.body
    [(html, kind)] = message.alternatives
    assert kind == "text/html" and token in html and "viewer" in html
    # Sent: the stored row (shown in the back office) keeps the token no more; the mailbox has it.
    sent = emails_to("sent@example.test")[0]
    assert sent.status == "sent"
    assert token not in sent.text_body + sent.html_body + sent.subject
    assert "[removed once sent]" in sent.text_body and "[removed once sent]" in sent.html_body


@pytest.mark.worker
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_a_real_worker_delivers_the_invitation_and_its_link_lets_the_invitee_join(start_celery_worker, tmp_path):
    from tests.fakes.email_backend import delivered

    start_celery_worker(EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend", FLAKY_EMAIL_DIR=str(tmp_path))
    tenant = TenantFactory(name="Worker Kennels")
    person = UserFactory()
    assert invite(bearer(tenant.owner_user), person.email, "staff").status_code == 201
    assert wait_until(lambda: delivered(tmp_path), timeout=40, interval=0.2)
    [message] = delivered(tmp_path)
    assert message["to"] == [person.email] and "Worker Kennels" in message["subject"]
    token = re.search(r"invitation code, if the app asks for it: (\S+)", message["body"]).group(1)
    response = send_json(bearer(person), "post", ACCEPT, {"token": token})
    assert (response.status_code, body(response)["tenant_name"]) == (201, "Worker Kennels")
