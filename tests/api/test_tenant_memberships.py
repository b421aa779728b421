"""Membership management through /api/v1/tenants/me/memberships/: who may do what, versions,
idempotency, the last-owner rule (also under concurrency) and a removed member losing access.
Joining is by invitation only (tests/api/invitations/)."""

from __future__ import annotations

import json
import queue

import pytest
from django.test import Client

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit
from breederhq.tenancy import tenant_context
from tenant_app.models import MembershipAuditLog, TenantMembership
from tests.api.conftest import bearer, body, member, send_json, sign_in
from tests.api.test_concurrency import run_together
from tests.factories.tenant import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
MEMBERS = "/api/v1/tenants/me/memberships/"


def url(membership_id: int) -> str:
    return f"{MEMBERS}{membership_id}/"


def membership_of(tenant, user) -> TenantMembership:
    with tenant_context(tenant.pk):
        return TenantMembership.objects.get(user=user)


def audit_rows(tenant) -> list[tuple]:
    with tenant_context(tenant.pk):
        return list(
            MembershipAuditLog.objects.order_by("id").values_list(
                "user__email", "action", "old_role", "new_role", "changed_by__email"
            )
        )


class TestList:
    def test_every_member_reads_the_members_of_their_own_tenant_only(self, two_tenants):
        a, b = two_tenants
        viewer = member(a, "viewer")
        member(b, "staff")
        response = bearer(viewer).get(MEMBERS)
        assert response.status_code == 200
        rows = body(response)["results"]
        assert [(r["user"]["email"], r["role"], r["version"]) for r in rows] == [
            (a.owner_user.email, "owner", 1),
            (viewer.email, "viewer", 1),
        ]
        assert body(response)["count"] == 2

    def test_another_tenants_membership_is_404(self, two_tenants):
        a, b = two_tenants
        theirs = membership_of(b, b.owner_user)
        client = bearer(a.owner_user)
        mine = client.get(url(membership_of(a, a.owner_user).pk))
        assert (mine.status_code, body(mine)["role"], mine["ETag"]) == (200, "owner", '"1"')
        assert client.get(url(theirs.pk)).status_code == 404
        assert send_json(client, "patch", url(theirs.pk), {"role": "viewer", "version": 1}).status_code == 404
        assert client.delete(url(theirs.pk)).status_code == 404
        assert membership_of(b, b.owner_user).role == "owner"

    def test_another_tenants_id_in_x_tenant_id_is_403(self, two_tenants):
        a, b = two_tenants
        assert bearer(a.owner_user, tenant_id=b.pk).get(MEMBERS).status_code == 403
        assert Client().get(MEMBERS).status_code == 401


class TestAdd:
    """POST here no longer adds anyone: it invites the address, exactly as POST /tenants/me/invitations/
    (tests/api/invitations/test_inviting.py), and answers 202 with the invitation."""

    def test_posting_an_existing_accounts_email_invites_it_and_adds_nobody(self, two_tenants):
        a, _ = two_tenants
        newcomer = UserFactory(email="Groomer.Gail@example.test")
        response = send_json(
            bearer(a.owner_user), "post", MEMBERS, {"email": "groomer.gail@EXAMPLE.test", "role": "staff"}
        )
        assert response.status_code == 202, response.content
        assert (body(response)["email"], body(response)["role"], body(response)["status"]) == (
            "groomer.gail@EXAMPLE.test",
            "staff",
            "pending",
        )
        with tenant_context(a.pk):
            assert not TenantMembership.objects.filter(user=newcomer).exists()
        assert audit_rows(a) == [(None, "invited", "", "staff", a.owner_user.email)]

    def test_an_unknown_email_is_invited_alike_and_an_existing_member_is_409(self, two_tenants):
        a, _ = two_tenants
        client = bearer(a.owner_user)
        unknown = send_json(client, "post", MEMBERS, {"email": "nobody@example.test", "role": "staff"})
        assert (unknown.status_code, body(unknown)["status"]) == (202, "pending")
        again = send_json(client, "post", MEMBERS, {"email": a.owner_user.email, "role": "staff"})
        assert (again.status_code, body(again)["code"]) == (409, "already_a_member")
        assert membership_of(a, a.owner_user).role == "owner"
        assert [row[1] for row in audit_rows(a)] == ["invited"]

    def test_malformed_input_is_400_with_field_errors(self, two_tenants):
        a, _ = two_tenants
        client = bearer(a.owner_user)
        unknown_field = send_json(client, "post", MEMBERS, {"email": "a@example.test", "role": "staff", "x": 1})
        assert (unknown_field.status_code, body(unknown_field)["errors"]) == (400, {"x": ["unknown field"]})
        wrong = send_json(client, "post", MEMBERS, {"email": "not-an-email", "role": "king"})
        assert (wrong.status_code, sorted(body(wrong)["errors"])) == (400, ["email", "role"])
        assert audit_rows(a) == []

    @pytest.mark.parametrize("role", ["staff", "viewer"])
    def test_staff_and_viewers_may_not_add_and_the_refusal_is_audited(self, two_tenants, role):
        a, _ = two_tenants
        UserFactory(email="late@example.test")
        response = send_json(bearer(member(a, role)), "post", MEMBERS, {"email": "late@example.test", "role": "staff"})
        assert (response.status_code, body(response)["code"]) == (403, "role_forbidden")
        refusal = AuthorizationAudit.objects.using(TENANT_DB).get()
        assert (refusal.resource_type, refusal.action, refusal.allowed) == ("memberships", "create", False)
        with tenant_context(a.pk):
            assert not TenantMembership.objects.filter(user__email="late@example.test").exists()

    def test_an_admin_invites_staff_but_only_an_owner_grants_owner(self, two_tenants):
        a, _ = two_tenants
        admin = bearer(member(a, "admin"))
        assert send_json(admin, "post", MEMBERS, {"email": "s@example.test", "role": "staff"}).status_code == 202
        refused = send_json(admin, "post", MEMBERS, {"email": "o@example.test", "role": "owner"})
        assert (refused.status_code, body(refused)["code"]) == (403, "owner_role_forbidden")
        assert AuthorizationAudit.objects.using(TENANT_DB).get().reason.startswith("Only an owner")
        with tenant_context(a.pk):
            assert not TenantMembership.objects.filter(user__email__in=["s@example.test", "o@example.test"]).exists()

    def test_a_replayed_add_answers_the_same_and_invites_once(self, two_tenants):
        a, _ = two_tenants
        client = bearer(a.owner_user)
        data = {"email": "twice@example.test", "role": "viewer"}
        first = send_json(client, "post", MEMBERS, data, **{"Idempotency-Key": "add-1"})
        again = send_json(client, "post", MEMBERS, data, **{"Idempotency-Key": "add-1"})
        assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (202, 202, "true")
        assert body(again) == body(first)
        assert len(audit_rows(a)) == 1


class TestChangeRole:
    def test_change_with_version_and_a_stale_version_is_409_with_the_current_one(self, two_tenants):
        a, _ = two_tenants
        staff = member(a, "staff")
        target = membership_of(a, staff)
        client = bearer(a.owner_user)
        changed = send_json(client, "patch", url(target.pk), {"role": "admin", "version": 1})
        assert (changed.status_code, body(changed)["role"], body(changed)["version"], changed["ETag"]) == (
            200,
            "admin",
            2,
            '"2"',
        )
        stale = send_json(client, "patch", url(target.pk), {"role": "viewer", "version": 1})
        assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 2)
        by_header = send_json(client, "patch", url(target.pk), {"role": "viewer"}, **{"If-Match": '"2"'})
        assert (by_header.status_code, body(by_header)["role"]) == (200, "viewer")
        missing = send_json(client, "patch", url(target.pk), {"role": "staff"})
        assert (missing.status_code, body(missing)["errors"]) == (400, {"version": ["required (or If-Match)"]})
        assert audit_rows(a) == [
            (staff.email, "role_changed", "staff", "admin", a.owner_user.email),
            (staff.email, "role_changed", "admin", "viewer", a.owner_user.email),
        ]

    def test_the_last_owner_cannot_be_demoted_but_one_of_two_can(self, two_tenants):
        a, _ = two_tenants
        client = bearer(a.owner_user)
        mine = membership_of(a, a.owner_user)
        refused = send_json(client, "patch", url(mine.pk), {"role": "admin", "version": 1})
        assert (refused.status_code, body(refused)["code"]) == (409, "last_owner")
        assert "last owner" in body(refused)["detail"]
        second = member(a, "owner")
        assert send_json(client, "patch", url(mine.pk), {"role": "admin", "version": 1}).status_code == 200
        assert membership_of(a, second).role == "owner"

    def test_an_admin_cannot_touch_an_owner_and_a_staff_member_cannot_change_roles(self, two_tenants):
        a, _ = two_tenants
        owner_membership = membership_of(a, a.owner_user)
        member(a, "owner")  # not the last owner: only the role rule refuses
        admin = bearer(member(a, "admin"))
        refused = send_json(admin, "patch", url(owner_membership.pk), {"role": "viewer", "version": 1})
        assert (refused.status_code, body(refused)["code"]) == (403, "owner_role_forbidden")
        staff_user = member(a, "staff")
        refused = send_json(
            bearer(staff_user), "patch", url(membership_of(a, staff_user).pk), {"role": "admin", "version": 1}
        )
        assert (refused.status_code, body(refused)["code"]) == (403, "role_forbidden")
        assert membership_of(a, a.owner_user).role == "owner"
        assert membership_of(a, staff_user).role == "staff"
        assert AuthorizationAudit.objects.using(TENANT_DB).filter(allowed=False).count() == 2


class TestRemove:
    def test_a_removed_member_loses_access_on_the_next_request(self, two_tenants):
        a, _ = two_tenants
        staff = member(a, "staff")
        staff_client = bearer(staff)  # the token still names the tenant
        assert staff_client.get("/api/v1/contacts/").status_code == 200
        response = bearer(a.owner_user).delete(url(membership_of(a, staff).pk))
        assert response.status_code == 204
        assert staff_client.get("/api/v1/contacts/").status_code == 403
        assert bearer(access=sign_in(staff)["access"], tenant_id=a.pk).get("/api/v1/contacts/").status_code == 403
        with tenant_context(a.pk):
            assert not TenantMembership.objects.filter(user=staff).exists()
        assert audit_rows(a) == [(staff.email, "removed", "staff", "", a.owner_user.email)]

    def test_the_last_owner_cannot_be_removed(self, two_tenants):
        a, _ = two_tenants
        response = bearer(a.owner_user).delete(url(membership_of(a, a.owner_user).pk))
        assert (response.status_code, body(response)["code"]) == (409, "last_owner")
        assert membership_of(a, a.owner_user).role == "owner"
        assert audit_rows(a) == []

    def test_staff_cannot_remove_and_a_stale_if_match_is_409(self, two_tenants):
        a, _ = two_tenants
        viewer = member(a, "viewer")
        target = membership_of(a, viewer)
        assert bearer(member(a, "staff")).delete(url(target.pk)).status_code == 403
        stale = bearer(a.owner_user).delete(url(target.pk), headers={"If-Match": '"7"'})
        assert (stale.status_code, body(stale)["current_version"]) == (409, 1)
        with tenant_context(a.pk):
            assert TenantMembership.objects.filter(pk=target.pk).exists()


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_two_owners_stepping_down_at_once_leave_exactly_one_owner():
    """Each owner demotes themselves: either alone would be fine, both at once would leave none.
    The service locks every owner row before counting, so the second waits and then sees one owner."""
    tenant = TenantFactory()
    second = UserFactory()
    with tenant_context(tenant.pk):
        TenantMembership.objects.create(tenant=tenant, user=second, role="owner")
        ids = [TenantMembership.objects.get(user=user).pk for user in (tenant.owner_user, second)]
    own_rows = [
        (membership_id, sign_in(user)["access"])
        for membership_id, user in zip(ids, (tenant.owner_user, second), strict=True)
    ]
    pending = queue.SimpleQueue()
    for row in own_rows:
        pending.put(row)

    def step_down():
        membership_id, access = pending.get()
        response = Client(headers={"Authorization": f"Bearer {access}"}).patch(
            url(membership_id), json.dumps({"role": "admin", "version": 1}), content_type="application/json"
        )
        return response.status_code, json.loads(response.content).get("code")

    results = run_together(2, step_down)
    assert sorted(results, key=str) == [(200, None), (409, "last_owner")], results
    with tenant_context(tenant.pk):
        assert TenantMembership.objects.filter(role="owner").count() == 1
        assert MembershipAuditLog.objects.filter(action="role_changed").count() == 1
