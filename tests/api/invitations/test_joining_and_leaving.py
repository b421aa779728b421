"""Accepting and declining an invitation (once, by its addressee, while its inviter may still invite),
and members leaving a tenant."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from tenant_app.models import MembershipAuditLog, TenantInvitation, TenantMembership
from tests.api.conftest import bearer, body, member, send_json, sign_in
from tests.api.invitations.conftest import (
    ACCEPT,
    CONTACTS,
    DECLINE,
    INVITATIONS,
    LEAVE,
    MEMBERS,
    MINE,
    REFRESH,
    audit_rows,
    invitation,
    invite,
    memberships_of,
    token_for,
)
from tests.api.test_concurrency import run_together
from tests.factories.tenant import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


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


@pytest.mark.slow
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
