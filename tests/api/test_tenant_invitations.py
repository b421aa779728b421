"""Memberships by invitation only, through HTTP: an owner or admin invites an address, the person it
is addressed to accepts (or declines) while signed in with it. Nobody is added without consent, and
no answer tells the inviter whether an account uses the address. Members leave on their own."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit, CrossTenantQueryAudit, OutboundEmail
from breederhq.tenancy import tenant_context
from tenant_app.models import MembershipAuditLog, TenantInvitation, TenantMembership
from tests.api.conftest import bearer, body, member, send_json, sign_in
from tests.api.test_concurrency import run_together
from tests.factories.tenant import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
MEMBERS = "/api/v1/tenants/me/memberships/"
INVITATIONS = "/api/v1/tenants/me/invitations/"
ACCEPT = "/api/v1/invitations/accept/"
DECLINE = "/api/v1/invitations/decline/"
MINE = "/api/v1/invitations/"
LEAVE = "/api/v1/tenants/me/membership/"
CONTACTS = "/api/v1/contacts/"
REFRESH = "/api/v1/auth/token/refresh/"


def emails_to(address: str) -> list[OutboundEmail]:
    return list(
        OutboundEmail.objects.using(TENANT_DB).filter(template="tenant_invitation", to=[address]).order_by("id")
    )


def token_for(address: str) -> str:
    """The token of the latest invitation email to `address`: the only place it exists."""
    text = emails_to(address)[-1].text_body
    return re.search(r"invitation code, if the app asks for it: (\S+)", text).group(1)


def invite(client, email: str, role: str = "staff", **headers):
    return send_json(client, "post", INVITATIONS, {"email": email, "role": role}, **headers)


def memberships_of(tenant) -> list[tuple[str, str]]:
    with tenant_context(tenant.pk):
        return sorted(TenantMembership.objects.values_list("user__email", "role"))


def audit_rows(tenant) -> list[tuple]:
    with tenant_context(tenant.pk):
        return list(
            MembershipAuditLog.objects.order_by("id").values_list(
                "action", "email", "user__email", "old_role", "new_role", "changed_by__email"
            )
        )


def invitation(tenant, pk: int) -> TenantInvitation:
    with tenant_context(tenant.pk):
        return TenantInvitation.objects.get(pk=pk)


def comparable(payload: dict) -> dict:
    """An invitation answer without what differs by construction (its id, address and times)."""
    return {k: v for k, v in payload.items() if k not in {"id", "email", "created_at", "expires_at"}}


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


# --- Accepting and declining ------------------------------------------------------------------------


class TestAccept:
    def test_the_invitee_accepts_and_keeps_their_existing_access(self, two_tenants):
        a, b = two_tenants
        person = member(b, "viewer")
        pair = sign_in(person)  # names tenant B only
        invite(bearer(a.owner_user), person.email.upper(), "staff")
        before = bearer(access=pair["access"])
        response = send_json(before, "post", ACCEPT, {"token": token_for(person.email.upper())})
        assert response.status_code == 201, response.content
        data = body(response)
        assert (data["tenant_id"], data["tenant_name"], data["role"]) == (a.pk, "A", "staff")
        assert (a.owner_user.email, "owner") in memberships_of(a) and (person.email, "staff") in memberships_of(a)
        # The token issued before still acts in B without X-Tenant-ID; A needs a refreshed token.
        assert bearer(access=pair["access"]).get(CONTACTS).status_code == 200
        assert body(bearer(access=pair["access"]).get("/api/v1/tenants/me/"))["id"] == b.pk
        refreshed = body(send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]}))
        choose = bearer(access=refreshed["access"]).get(CONTACTS)
        assert (choose.status_code, body(choose)["code"]) == (403, "no_tenant")
        assert body(bearer(access=refreshed["access"], tenant_id=a.pk).get("/api/v1/tenants/me/"))["role"] == "staff"
        assert audit_rows(a) == [
            ("invited", person.email.upper(), None, "", "staff", a.owner_user.email),
            ("invitation_accepted", person.email.upper(), person.email, "", "staff", person.email),
        ]
        # The lookup by token was an audited system read, naming the account.
        lookup = CrossTenantQueryAudit.objects.using(TENANT_DB).get(query_type="system:tenant_invitation:token")
        assert (lookup.user_id, lookup.target_tenant_id) == (person.pk, 0)

    def test_an_account_without_a_tenant_joins_and_works_after_a_refresh(self, two_tenants):
        a, _ = two_tenants
        person = UserFactory()
        invite(bearer(a.owner_user), person.email, "viewer")
        pair = sign_in(person)
        assert (
            send_json(bearer(access=pair["access"]), "post", ACCEPT, {"token": token_for(person.email)}).status_code
            == 201
        )
        refreshed = body(send_json(Client(), "post", REFRESH, {"refresh": pair["refresh"]}))
        assert bearer(access=refreshed["access"]).get(CONTACTS).status_code == 200

    def test_another_account_cannot_use_the_token(self, two_tenants):
        a, _ = two_tenants
        UserFactory(email="meant@example.test")
        intruder = UserFactory()
        created = body(invite(bearer(a.owner_user), "meant@example.test"))
        response = send_json(bearer(intruder), "post", ACCEPT, {"token": token_for("meant@example.test")})
        assert (response.status_code, body(response)["code"]) == (403, "invitation_email_mismatch")
        declined = send_json(bearer(intruder), "post", DECLINE, {"token": token_for("meant@example.test")})
        assert (declined.status_code, body(declined)["code"]) == (403, "invitation_email_mismatch")
        assert invitation(a, created["id"]).status == "pending"
        assert memberships_of(a) == [(a.owner_user.email, "owner")]

    def test_used_expired_revoked_unknown_and_already_member_are_clear_problems(self, two_tenants):
        a, _ = two_tenants
        owner = bearer(a.owner_user)
        person = UserFactory()
        client = bearer(person)
        unknown = send_json(client, "post", ACCEPT, {"token": "not-a-token"})
        assert (unknown.status_code, body(unknown)["code"]) == (404, "invitation_not_found")
        assert unknown["Content-Type"] == "application/problem+json"
        missing = send_json(client, "post", ACCEPT, {})
        assert (missing.status_code, list(body(missing)["errors"])) == (400, ["token"])

        created = body(invite(owner, person.email))
        token = token_for(person.email)
        with tenant_context(a.pk):
            TenantInvitation.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
        expired = send_json(client, "post", ACCEPT, {"token": token})
        assert (expired.status_code, body(expired)["code"]) == (410, "invitation_expired")
        listed = body(owner.get(INVITATIONS, {"status": "expired"}))["results"]
        assert [(r["id"], r["status"]) for r in listed] == [(created["id"], "expired")]
        assert body(owner.get(INVITATIONS, {"status": "pending"}))["results"] == []

        created = body(invite(owner, person.email))
        token = token_for(person.email)
        assert owner.delete(f"{INVITATIONS}{created['id']}/").status_code == 204
        revoked = send_json(client, "post", ACCEPT, {"token": token})
        assert (revoked.status_code, body(revoked)["code"]) == (409, "invitation_revoked")
        again = owner.delete(f"{INVITATIONS}{created['id']}/")
        assert (again.status_code, body(again)["code"]) == (409, "invitation_not_pending")

        invite(owner, person.email)
        token = token_for(person.email)
        assert send_json(client, "post", ACCEPT, {"token": token}).status_code == 201
        used = send_json(client, "post", ACCEPT, {"token": token})
        assert (used.status_code, body(used)["code"]) == (409, "invitation_used")
        assert memberships_of(a).count((person.email, "staff")) == 1

        # An invitation that outlived a membership made meanwhile: 409 already_a_member.
        other = UserFactory()
        invite(owner, other.email)
        with tenant_context(a.pk):
            TenantMembership.objects.create(tenant=a, user=other, role="viewer")
        already = send_json(bearer(other), "post", ACCEPT, {"token": token_for(other.email)})
        assert (already.status_code, body(already)["code"]) == (409, "already_a_member")
        assert (other.email, "viewer") in memberships_of(a)

    def test_the_invitee_declines_and_the_token_stops_working(self, two_tenants):
        a, _ = two_tenants
        person = UserFactory()
        created = body(invite(bearer(a.owner_user), person.email, "admin"))
        token = token_for(person.email)
        declined = send_json(bearer(person), "post", DECLINE, {"token": token})
        assert (declined.status_code, body(declined)["status"], body(declined)["tenant_name"]) == (200, "declined", "A")
        refused = send_json(bearer(person), "post", ACCEPT, {"token": token})
        assert (refused.status_code, body(refused)["code"]) == (409, "invitation_declined")
        assert invitation(a, created["id"]).status == "declined"
        assert memberships_of(a) == [(a.owner_user.email, "owner")]
        assert [row[0] for row in audit_rows(a)] == ["invited", "invitation_declined"]

    def test_an_invitation_of_a_deleted_tenant_is_not_found(self, two_tenants):
        a, _ = two_tenants
        person = UserFactory()
        invite(bearer(a.owner_user), person.email)
        a.delete()  # soft delete
        response = send_json(bearer(person), "post", ACCEPT, {"token": token_for(person.email)})
        assert (response.status_code, body(response)["code"]) == (404, "invitation_not_found")
        assert body(bearer(person).get(MINE))["results"] == []

    def test_a_replayed_accept_answers_the_same(self, two_tenants):
        a, _ = two_tenants
        person = UserFactory()
        invite(bearer(a.owner_user), person.email)
        client = bearer(person)
        data = {"token": token_for(person.email)}
        first = send_json(client, "post", ACCEPT, data, **{"Idempotency-Key": "acc-1"})
        again = send_json(client, "post", ACCEPT, data, **{"Idempotency-Key": "acc-1"})
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
        assert body(again) == body(first)

    def test_anonymous_is_401(self):
        for response in (Client().get(MINE), send_json(Client(), "post", ACCEPT, {"token": "x"})):
            assert response.status_code == 401


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


# --- Leaving ----------------------------------------------------------------------------------------


class TestLeave:
    def test_a_member_leaves_and_loses_access(self, two_tenants):
        a, _ = two_tenants
        viewer = member(a, "viewer")
        client = bearer(viewer)
        assert client.delete(LEAVE).status_code == 204
        assert client.get(CONTACTS).status_code == 403
        assert (viewer.email, "viewer") not in memberships_of(a)
        assert audit_rows(a) == [("left", "", viewer.email, "viewer", "", viewer.email)]

    def test_the_last_owner_cannot_leave_but_one_of_two_can(self, two_tenants):
        a, _ = two_tenants
        refused = bearer(a.owner_user).delete(LEAVE)
        assert (refused.status_code, body(refused)["code"]) == (409, "last_owner")
        assert refused["Content-Type"] == "application/problem+json"
        second = member(a, "owner")
        assert bearer(second).delete(LEAVE).status_code == 204
        assert memberships_of(a) == [(a.owner_user.email, "owner")]

    def test_a_member_of_two_tenants_leaves_the_one_they_name(self, two_tenants):
        a, b = two_tenants
        person = member(a, "staff")
        with tenant_context(b.pk):
            TenantMembership.objects.create(tenant=b, user=person, role="staff")
        assert bearer(person, tenant_id=b.pk).delete(LEAVE).status_code == 204
        assert (person.email, "staff") in memberships_of(a)
        assert (person.email, "staff") not in memberships_of(b)


# --- Concurrency --------------------------------------------------------------------------------------


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_simultaneous_accepts_of_one_invitation_make_one_membership():
    tenant = TenantFactory()
    person = UserFactory()
    invite(bearer(tenant.owner_user), person.email)
    payload = json.dumps({"token": token_for(person.email)})
    accesses = [sign_in(person)["access"] for _ in range(3)]

    def accept():
        response = Client(headers={"Authorization": f"Bearer {accesses.pop()}"}).post(
            ACCEPT, payload, content_type="application/json"
        )
        return response.status_code, json.loads(response.content).get("code")

    results = run_together(3, accept)
    assert sorted(results, key=str) == [(201, None), (409, "invitation_used"), (409, "invitation_used")], results
    with tenant_context(tenant.pk):
        assert TenantMembership.objects.filter(user=person).count() == 1
        assert MembershipAuditLog.objects.filter(action="invitation_accepted").count() == 1


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
    import time

    from tests.fakes.email_backend import delivered

    start_celery_worker(EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend", FLAKY_EMAIL_DIR=str(tmp_path))
    tenant = TenantFactory(name="Worker Kennels")
    person = UserFactory()
    assert invite(bearer(tenant.owner_user), person.email, "staff").status_code == 201
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not delivered(tmp_path):
        time.sleep(0.2)
    [message] = delivered(tmp_path)
    assert message["to"] == [person.email] and "Worker Kennels" in message["subject"]
    token = re.search(r"invitation code, if the app asks for it: (\S+)", message["body"]).group(1)
    response = send_json(bearer(person), "post", ACCEPT, {"token": token})
    assert (response.status_code, body(response)["tenant_name"]) == (201, "Worker Kennels")


class TestAnInvitationDiesWithItsInvitersAuthority:
    """An invitation is offered with its inviter's authority: once the inviter is removed, leaves, or
    is demoted below the role the invitation grants, accepting it is refused and the invitation is
    revoked (so nobody joins on a departed admin's word)."""

    @staticmethod
    def _membership_id(tenant, user) -> int:
        with tenant_context(tenant.pk):
            return TenantMembership.objects.get(user=user).pk

    @pytest.mark.parametrize("change", ["removed", "left", "demoted to staff"])
    def test_an_admins_pending_invitation_is_void_once_the_admin_is_no_longer_one(self, two_tenants, change):
        a, _ = two_tenants
        admin = member(a, "admin")
        invitee = UserFactory(email="newcomer@example.test")
        assert invite(bearer(admin), invitee.email, "staff").status_code == 201
        owner = bearer(a.owner_user)
        if change == "removed":
            assert owner.delete(f"{MEMBERS}{self._membership_id(a, admin)}/").status_code == 204
        elif change == "left":
            assert bearer(admin).delete(LEAVE).status_code == 204
        else:
            response = send_json(
                owner, "patch", f"{MEMBERS}{self._membership_id(a, admin)}/", {"role": "staff", "version": 1}
            )
            assert response.status_code == 200, response.content

        response = send_json(bearer(invitee), "post", ACCEPT, {"token": token_for(invitee.email)})
        assert (response.status_code, body(response)["code"]) == (409, "invitation_inviter_not_authorized")
        assert (invitee.email, "staff") not in memberships_of(a)
        pending = [i for i in body(bearer(invitee).get(MINE))["results"] if i["status"] == "pending"]
        assert pending == []
        again = send_json(bearer(invitee), "post", ACCEPT, {"token": token_for(invitee.email)})
        assert (again.status_code, body(again)["code"]) == (409, "invitation_revoked")
        assert audit_rows(a)[-1][:4] == ("invitation_revoked", invitee.email, None, "staff")

    def test_an_owner_invitation_is_void_once_its_inviter_is_no_longer_an_owner(self, two_tenants):
        a, _ = two_tenants
        second_owner = member(a, "owner")
        invitee = UserFactory(email="heir@example.test")
        assert invite(bearer(second_owner), invitee.email, "owner").status_code == 201
        response = send_json(
            bearer(a.owner_user),
            "patch",
            f"{MEMBERS}{self._membership_id(a, second_owner)}/",
            {"role": "admin", "version": 1},
        )
        assert response.status_code == 200, response.content
        response = send_json(bearer(invitee), "post", ACCEPT, {"token": token_for(invitee.email)})
        assert (response.status_code, body(response)["code"]) == (409, "invitation_inviter_not_authorized")
        assert (invitee.email, "owner") not in memberships_of(a)

    def test_an_inviter_who_keeps_the_right_role_still_brings_the_invitee_in(self, two_tenants):
        a, _ = two_tenants
        admin = member(a, "admin")
        invitee = UserFactory(email="welcome@example.test")
        assert invite(bearer(admin), invitee.email, "viewer").status_code == 201
        response = send_json(
            bearer(a.owner_user), "patch", f"{MEMBERS}{self._membership_id(a, admin)}/", {"role": "owner", "version": 1}
        )
        assert response.status_code == 200, response.content
        response = send_json(bearer(invitee), "post", ACCEPT, {"token": token_for(invitee.email)})
        assert response.status_code == 201, response.content
        assert (invitee.email, "viewer") in memberships_of(a)
