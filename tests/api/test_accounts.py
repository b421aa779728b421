"""Accounts through the API: sign-up with an emailed confirmation, the unverified gate on buying, selling
and inviting, password reset by email, password change, and account deletion through the erasure."""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import OutboundEmail
from breederhq.tenancy import tenant_context
from marketplace_app.models import MarketplaceUser, Provider
from tenant_app.models import AccountAuditLog, AccountToken, MembershipAuditLog, TenantMembership, User
from tests.api.conftest import PASSWORD, bearer, body, member, send_json, sign_in
from tests.api.test_concurrency import run_together
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing
from tests.factories.tenant import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

SIGN_UP = "/api/v1/auth/sign-up/"
VERIFY = "/api/v1/auth/verify-email/"
RESEND = "/api/v1/auth/verify-email/resend/"
RESET = "/api/v1/auth/password-reset/"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm/"
CHANGE = "/api/v1/auth/password/"
ACCOUNT = "/api/v1/auth/account/delete/"
ME = "/api/v1/auth/me/"
INVITATIONS = "/api/v1/tenants/me/invitations/"
PURCHASES = "/api/v1/marketplace/transactions/"
NEW_PASSWORD = "a-much-better-secret-42"


def fresh_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def anonymous() -> Client:
    return Client(REMOTE_ADDR=fresh_ip())


def emails(template: str, to: str) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.using(TENANT_DB).filter(template=template, to=[to]).order_by("id"))


def token_in(template: str, to: str) -> str:
    """The code in the latest email of `template` to `to`: the only place the token exists."""
    return re.search(r"code, if the app asks for it: (\S+)", emails(template, to)[-1].text_body).group(1)


def sign_up(email: str, password: str = PASSWORD, client: Client | None = None, **fields):
    return send_json(client or anonymous(), "post", SIGN_UP, {"email": email, "password": password, **fields})


def stored_counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        AccountToken.objects.count(),
        OutboundEmail.objects.using(TENANT_DB).count(),
        AccountAuditLog.objects.count(),
    )


@pytest.fixture
def rates(settings):
    def set_rates(**overrides):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides},
        }

    return set_rates


# --- Sign-up ------------------------------------------------------------------------------------------


def test_sign_up_makes_an_unverified_account_and_emails_a_hashed_single_use_link():
    response = sign_up("New.Person@Example.TEST", first_name="Nia")
    assert response.status_code == 202, response.content
    user = User.objects.get(email__iexact="new.person@example.test")
    assert user.email_verified_at is None and user.is_active and user.check_password(PASSWORD)
    [email] = emails("account_verify_email", user.email)
    token = token_in("account_verify_email", user.email)
    assert token in email.html_body and "Nia" in email.text_body
    [row] = AccountToken.objects.filter(user=user)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    assert row.purpose == "verify_email" and row.expires_at > timezone.now() + timedelta(hours=47)
    assert list(AccountAuditLog.objects.filter(user_id=user.pk).values_list("action", flat=True)) == ["signed_up"]
    # Signs in at once, and sees that the address is not confirmed yet.
    me = bearer(user).get(ME)
    assert body(me)["email_verified_at"] is None


def test_sign_up_with_a_taken_address_answers_the_same_and_emails_the_owner_instead():
    existing = UserFactory(email="taken@example.test")
    fresh, taken = sign_up("free@example.test"), sign_up("TAKEN@example.test", password="another-Secret-99")
    assert fresh.status_code == taken.status_code == 202
    assert body(fresh)["detail"].replace("free", "X") == body(taken)["detail"].replace("TAKEN", "X")
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)  # nothing about the account changed
    assert len(emails("account_exists", "taken@example.test")) == 1
    assert emails("account_verify_email", "taken@example.test") == []


BAD_SIGN_UPS = [
    ({"password": PASSWORD}, "email"),
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "a@example.test"}, "password"),
    ({"email": "a@example.test", "password": "short"}, "password"),
    ({"email": "a@example.test", "password": "password123"}, "password"),
    ({"email": "a@example.test", "password": "x" * 500}, "password"),
    ({"email": "a@example.test", "password": 12345678901}, "password"),
    ({"email": ["a@example.test"], "password": PASSWORD}, "email"),
    ({"email": "a@example.test", "password": PASSWORD, "first_name": "x" * 300}, "first_name"),
    ({"email": "a" * 250 + "@example.test", "password": PASSWORD}, "email"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_SIGN_UPS)
def test_bad_sign_up_input_is_a_400_problem_and_stores_nothing(payload, field):
    before = stored_counts()
    response = send_json(anonymous(), "post", SIGN_UP, payload)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in body(response)["errors"]
    assert stored_counts() == before


@pytest.mark.parametrize("url", [SIGN_UP, VERIFY, RESET, RESET_CONFIRM])
@pytest.mark.parametrize("raw", ["{not json", "[]", "null", '"text"'])
def test_malformed_bodies_on_anonymous_account_endpoints_are_400_problems(url, raw):
    before = stored_counts()
    response = anonymous().post(url, raw, content_type="application/json")
    assert response.status_code == 400, (url, raw, response.content)
    assert response["Content-Type"] == "application/problem+json"
    assert stored_counts() == before


def test_a_non_json_sign_up_is_415():
    before = stored_counts()
    response = anonymous().post(SIGN_UP, "email=a@example.test", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response["Content-Type"] == "application/problem+json"
    assert stored_counts() == before


def test_sign_up_emails_are_throttled_per_address(rates):
    rates(account_email="2/min")
    address = f"flood-{random.randrange(10**9)}@example.test"
    codes = [sign_up(address).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert len(emails("account_exists", address)) == 1  # the second sign-up; the third was refused


# --- Verification -------------------------------------------------------------------------------------


def test_the_emailed_token_verifies_once_and_unlocks_inviting():
    sign_up("ver@example.test")
    user = User.objects.get(email="ver@example.test")
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        TenantMembership.objects.create(tenant=tenant, user=user, role="owner")
    client = bearer(user)
    refused = send_json(client, "post", INVITATIONS, {"email": "guest@example.test", "role": "staff"})
    assert (refused.status_code, body(refused)["code"]) == (403, "email_unverified")
    assert refused["Content-Type"] == "application/problem+json"

    token = token_in("account_verify_email", "ver@example.test")
    verified = send_json(anonymous(), "post", VERIFY, {"token": token})
    assert verified.status_code == 200 and body(verified)["email"] == "ver@example.test"
    assert User.objects.get(pk=user.pk).email_verified_at is not None
    again = send_json(anonymous(), "post", VERIFY, {"token": token})
    assert (again.status_code, body(again)["code"]) == (409, "account_token_used")
    assert body(client.get(ME))["email_verified_at"] is not None
    invited = send_json(client, "post", INVITATIONS, {"email": "guest@example.test", "role": "staff"})
    assert invited.status_code == 201, invited.content
    assert list(AccountAuditLog.objects.filter(user_id=user.pk).order_by("id").values_list("action", flat=True)) == [
        "signed_up",
        "email_verified",
    ]


def test_an_unverified_account_cannot_buy():
    user = UserFactory(email_verified_at=None)
    MarketplaceUserFactory(tenant_user_id=user.pk)
    listing = make_listing(ProviderFactory())
    response = send_json(bearer(user), "post", PURCHASES, {"listing_id": listing.pk}, **{"Idempotency-Key": "buy-1"})
    assert (response.status_code, body(response)["code"]) == (403, "email_unverified")
    User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
    response = send_json(bearer(user), "post", PURCHASES, {"listing_id": listing.pk}, **{"Idempotency-Key": "buy-2"})
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("no-such-token", 404, "account_token_not_found"),
        ("", 400, "validation_failed"),
        ("x" * 500, 400, "validation_failed"),
    ],
)
def test_unknown_or_bad_verification_tokens(token, status, code):
    response = send_json(anonymous(), "post", VERIFY, {"token": token})
    assert (response.status_code, body(response)["code"]) == (status, code)


def test_an_expired_token_is_410_and_a_resend_replaces_the_old_link():
    sign_up("late@example.test")
    first = token_in("account_verify_email", "late@example.test")
    AccountToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = send_json(anonymous(), "post", VERIFY, {"token": first})
    assert (expired.status_code, body(expired)["code"]) == (410, "account_token_expired")

    user = User.objects.get(email="late@example.test")
    AccountToken.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    assert bearer(user).post(RESEND).status_code == 202
    second = token_in("account_verify_email", "late@example.test")
    assert second != first
    replaced = send_json(anonymous(), "post", VERIFY, {"token": first})
    assert (replaced.status_code, body(replaced)["code"]) == (409, "account_token_replaced")
    assert send_json(anonymous(), "post", VERIFY, {"token": second}).status_code == 200
    done = bearer(user).post(RESEND)
    assert (done.status_code, body(done)["code"]) == (409, "email_already_verified")


def test_resending_is_throttled_per_account(rates):
    rates(account_email="2/min")
    user = UserFactory(email=f"resend-{random.randrange(10**9)}@example.test", email_verified_at=None)
    client = bearer(user)
    assert [client.post(RESEND).status_code for _ in range(3)] == [202, 202, 429]
    assert len(emails("account_verify_email", user.email)) == 2


# --- Password reset -----------------------------------------------------------------------------------


def test_a_reset_request_answers_the_same_whether_or_not_the_address_has_an_account():
    UserFactory(email="known@example.test")
    known = send_json(anonymous(), "post", RESET, {"email": "known@example.test"})
    unknown = send_json(anonymous(), "post", RESET, {"email": "nobody@example.test"})
    assert known.status_code == unknown.status_code == 202
    assert body(known)["detail"].replace("known", "X") == body(unknown)["detail"].replace("nobody", "X")
    assert set(known.headers) == set(unknown.headers)
    assert len(emails("account_password_reset", "known@example.test")) == 1
    assert OutboundEmail.objects.using(TENANT_DB).filter(to=["nobody@example.test"]).count() == 0


def test_a_reset_sets_the_password_voids_every_session_and_works_once():
    user = UserFactory(email="forgot@example.test")
    old_session = sign_in(user)
    send_json(anonymous(), "post", RESET, {"email": "forgot@example.test"})
    token = token_in("account_password_reset", "forgot@example.test")
    weak = send_json(anonymous(), "post", RESET_CONFIRM, {"token": token, "new_password": "123"})
    assert (weak.status_code, body(weak)["code"]) == (400, "password_too_weak")
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)  # nothing stored, the token still works

    done = send_json(anonymous(), "post", RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 204, done.content
    assert Client(headers={"Authorization": f"Bearer {old_session['access']}"}).get(ME).status_code == 401
    refresh = send_json(anonymous(), "post", "/api/v1/auth/token/refresh/", {"refresh": old_session["refresh"]})
    assert refresh.status_code == 401
    assert (
        send_json(anonymous(), "post", "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}).status_code
        == 401
    )
    sign_in(user, password=NEW_PASSWORD)
    again = send_json(anonymous(), "post", RESET_CONFIRM, {"token": token, "new_password": "yet-another-Pass-7"})
    assert (again.status_code, body(again)["code"]) == (409, "account_token_used")
    assert AccountAuditLog.objects.filter(user_id=user.pk, action="password_reset").count() == 1


def test_a_reset_link_also_confirms_an_unverified_address():
    user = UserFactory(email="unv@example.test", email_verified_at=None)
    send_json(anonymous(), "post", RESET, {"email": "unv@example.test"})
    token = token_in("account_password_reset", "unv@example.test")
    assert (
        send_json(anonymous(), "post", RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD}).status_code == 204
    )
    assert User.objects.get(pk=user.pk).email_verified_at is not None


def test_a_verification_token_is_not_a_reset_token():
    sign_up("mixed@example.test")
    token = token_in("account_verify_email", "mixed@example.test")
    response = send_json(anonymous(), "post", RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert (response.status_code, body(response)["code"]) == (404, "account_token_not_found")


def test_reset_requests_are_throttled_per_address_whatever_the_client_ip(rates):
    rates(account_email="2/min")
    address = f"target-{random.randrange(10**9)}@example.test"
    UserFactory(email=address)
    codes = [send_json(anonymous(), "post", RESET, {"email": address}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert len(emails("account_password_reset", address)) == 2


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_simultaneous_uses_of_one_reset_token_set_one_password():
    user = UserFactory(email="race@example.test")
    send_json(anonymous(), "post", RESET, {"email": user.email})
    token = token_in("account_password_reset", user.email)
    passwords = [f"racing-Password-{i}-xyz" for i in range(4)]

    def confirm():
        response = send_json(anonymous(), "post", RESET_CONFIRM, {"token": token, "new_password": passwords.pop()})
        return response.status_code, json.loads(response.content or b"{}").get("code")

    results = sorted(run_together(4, confirm), key=str)
    assert results == [(204, None)] + [(409, "account_token_used")] * 3, results
    assert AccountAuditLog.objects.filter(user_id=user.pk, action="password_reset").count() == 1


# --- Password change ----------------------------------------------------------------------------------


def test_a_password_change_needs_the_current_password_and_ends_the_other_sessions():
    user = UserFactory()
    other_device = sign_in(user)
    client = bearer(user)
    wrong = send_json(client, "post", CHANGE, {"current_password": "nope", "new_password": NEW_PASSWORD})
    assert (wrong.status_code, body(wrong)["code"]) == (400, "wrong_password")
    assert "current_password" in body(wrong)["errors"]
    weak = send_json(client, "post", CHANGE, {"current_password": PASSWORD, "new_password": "abc"})
    assert (weak.status_code, body(weak)["code"]) == (400, "password_too_weak")
    same = send_json(client, "post", CHANGE, {"current_password": PASSWORD, "new_password": PASSWORD})
    assert (same.status_code, body(same)["code"]) == (400, "password_unchanged")
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)

    changed = send_json(client, "post", CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.content
    pair = body(changed)
    assert Client(headers={"Authorization": f"Bearer {other_device['access']}"}).get(ME).status_code == 401
    assert client.get(ME).status_code == 401  # the token that asked is void too: the answer carries the new one
    assert bearer(access=pair["access"]).get(ME).status_code == 200
    refreshed = send_json(anonymous(), "post", "/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]})
    assert refreshed.status_code == 200
    sign_in(user, password=NEW_PASSWORD)
    assert AccountAuditLog.objects.filter(user_id=user.pk, action="password_changed").count() == 1


def test_password_change_needs_a_sign_in():
    response = send_json(anonymous(), "post", CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401


# --- Deletion -----------------------------------------------------------------------------------------


def test_the_last_owner_of_a_tenant_cannot_delete_the_account():
    tenant = TenantFactory()
    owner = tenant.owner_user
    response = send_json(bearer(owner), "post", ACCOUNT, {"password": PASSWORD})
    assert (response.status_code, body(response)["code"]) == (409, "last_owner")
    assert body(response)["tenant_ids"] == [tenant.pk]
    owner.refresh_from_db()
    assert owner.is_active and owner.email != "" and owner.check_password(PASSWORD)


def test_deleting_an_account_erases_the_person_everywhere():
    tenant = TenantFactory()
    person = member(tenant, "owner")  # a second owner: the first stays
    marketplace_user = MarketplaceUserFactory(tenant_user_id=person.pk, email=person.email)
    provider = ProviderFactory(user=marketplace_user)
    listing = make_listing(provider)
    session = sign_in(person)
    wrong = send_json(bearer(access=session["access"]), "post", ACCOUNT, {"password": "wrong"})
    assert (wrong.status_code, body(wrong)["code"]) == (400, "wrong_password")

    response = send_json(bearer(access=session["access"]), "post", ACCOUNT, {"password": PASSWORD})
    assert response.status_code == 204, response.content
    erased = User.objects.get(pk=person.pk)
    assert (erased.email, erased.first_name, erased.is_active) == (f"erased-{person.pk}@erased.invalid", "", False)
    assert not erased.has_usable_password()
    assert bearer(access=session["access"]).get(ME).status_code == 401
    assert (
        send_json(anonymous(), "post", "/api/v1/auth/token/", {"email": person.email, "password": PASSWORD}).status_code
        == 401
    )
    with tenant_context(tenant.pk):
        assert not TenantMembership.objects.filter(user=person).exists()
        assert MembershipAuditLog.objects.filter(user=person, action="left").count() == 1
    gone = MarketplaceUser.all_objects.using(MARKETPLACE_DB).get(pk=marketplace_user.pk)
    assert gone.deleted_at is not None and gone.email.startswith("erased-")
    assert Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk).deleted_at is not None
    listing.refresh_from_db()
    assert listing.status == "archived"
    assert AccountAuditLog.objects.filter(user_id=person.pk, action="deleted").count() == 1


@pytest.mark.parametrize("payload", [{}, {"password": 5}, {"password": "x" * 1000}, []])
def test_bad_deletion_input_is_a_400_and_changes_nothing(payload):
    user = UserFactory()
    response = send_json(bearer(user), "post", ACCOUNT, payload)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert User.objects.get(pk=user.pk).is_active
