"""Sign-in sessions through HTTP (breederhq.api.sessions, docs/api/sessions.md): a refresh token is
good once, a reused one revokes its sign-in and is audited, and every token can be voided at once
(sign-out everywhere, a password change, a deactivation)."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connections
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit
from tenant_app.models import User
from tests.api.conftest import PASSWORD, bearer, body, send_json, sign_in
from tests.api.test_concurrency import run_together
from tests.factories.tenant import UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
TOKEN, REFRESH, REVOKE = "/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/token/revoke/"
EVERYWHERE, ME = "/api/v1/auth/sign-out-everywhere/", "/api/v1/auth/me/"


def refresh(token: str):
    return send_json(Client(), "post", REFRESH, {"refresh": token})


def refused(response) -> bool:
    return (
        response.status_code == 401
        and response["Content-Type"] == "application/problem+json"
        and body(response)["code"] == "authentication_failed"
    )


def write(access: str):
    """A write (a POST to a tenant endpoint): refused with 401 when the token is, else it gets as far
    as the tenant check."""
    return send_json(Client(headers={"Authorization": f"Bearer {access}"}), "post", "/api/v1/contacts/", {})


def read(access: str):
    return Client(headers={"Authorization": f"Bearer {access}"}).get(ME)


def reuse_audits(user) -> list[tuple]:
    return list(
        AuthorizationAudit.objects.using(TENANT_DB)
        .filter(user_id=user.pk, resource_type="refresh_token_family")
        .values_list("action", "allowed")
    )


class TestRotation:
    def test_a_refresh_token_is_good_once_and_its_reuse_revokes_the_whole_sign_in(self):
        user = UserFactory()
        first = sign_in(user)
        second = body(refresh(first["refresh"]))
        third = body(refresh(second["refresh"]))
        assert read(third["access"]).status_code == 200
        # Someone presents the first refresh token again (a copy taken before the owner used it):
        assert refused(refresh(first["refresh"]))
        # every token of that sign-in is dead, the newest descendant included, refresh and access alike,
        assert refused(refresh(third["refresh"]))
        assert refused(read(third["access"]))
        assert refused(read(second["access"]))
        # and staff can see why.
        assert reuse_audits(user) == [("refresh", False)]
        audit = AuthorizationAudit.objects.using(TENANT_DB).get(user_id=user.pk)
        assert audit.resource_id == jwt.decode(first["refresh"], options={"verify_signature": False})["fam"]
        assert "reuse" in audit.reason

    def test_another_sign_in_of_the_same_user_is_untouched_by_a_reuse(self):
        user = UserFactory()
        phone, laptop = sign_in(user), sign_in(user)
        refresh(phone["refresh"])
        assert refused(refresh(phone["refresh"]))
        assert read(laptop["access"]).status_code == 200
        assert refresh(laptop["refresh"]).status_code == 200

    def test_a_rotation_keeps_the_family_and_the_claims_are_recomputed(self):
        user = UserFactory()
        first = sign_in(user)
        second = body(refresh(first["refresh"]))
        decode = lambda t: jwt.decode(t, options={"verify_signature": False})  # noqa: E731
        assert decode(first["refresh"])["fam"] == decode(second["refresh"])["fam"] == decode(second["access"])["fam"]
        assert decode(first["refresh"])["jti"] != decode(second["refresh"])["jti"]

    def test_a_token_from_before_families_existed_rotates_once_and_its_reuse_is_caught(self):
        user = UserFactory()
        legacy = str(RefreshToken.for_user(user))  # no `fam`, no `rev` claim
        fresh = body(refresh(legacy))
        assert read(fresh["access"]).status_code == 200
        assert refused(refresh(legacy))
        assert refused(refresh(fresh["refresh"]))
        assert reuse_audits(user) == [("refresh", False)]

    def test_a_token_of_a_deleted_user_is_refused_not_a_500(self):
        user = UserFactory()
        pair = sign_in(user)
        forged_elsewhere = RefreshToken()  # signed with our key, never recorded as outstanding
        forged_elsewhere["user_id"] = str(user.pk)
        User.objects.filter(pk=user.pk).delete()
        assert refused(refresh(pair["refresh"]))
        assert refused(refresh(str(forged_elsewhere)))
        assert refused(read(pair["access"]))

    def test_revoke_signs_out_that_sign_in_only_and_a_second_revoke_is_refused(self):
        user = UserFactory()
        phone, laptop = sign_in(user), sign_in(user)
        assert read(phone["access"]).status_code == 200
        assert send_json(Client(), "post", REVOKE, {"refresh": phone["refresh"]}).status_code == 204
        assert refused(read(phone["access"]))
        assert refused(refresh(phone["refresh"]))
        assert refused(send_json(Client(), "post", REVOKE, {"refresh": phone["refresh"]}))
        assert read(laptop["access"]).status_code == 200
        assert reuse_audits(user) == []  # signing out is not a theft

    def test_revoking_an_already_used_refresh_token_is_a_reuse(self):
        user = UserFactory()
        first = sign_in(user)
        second = body(refresh(first["refresh"]))
        assert refused(send_json(Client(), "post", REVOKE, {"refresh": first["refresh"]}))
        assert refused(refresh(second["refresh"]))
        assert reuse_audits(user) == [("revoke", False)]


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_ten_simultaneous_refreshes_with_one_token_give_exactly_one_new_pair():
    """Each thread has its own database connections. Old code: ten 200s, ten working pairs.

    The nine losers present a token that is used by then: a reuse, so the sign-in is revoked (the
    winner's new pair too). A thief racing the owner cannot be told apart from a client that refreshes
    twice at once; the answer for both is to sign in again."""
    user = UserFactory()
    pair = sign_in(user)
    results = run_together(10, lambda: refresh(pair["refresh"]))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [401] * 9, statuses
    assert all(refused(r) for r in results if r.status_code == 401)
    winner = body(next(r for r in results if r.status_code == 200))
    assert refused(refresh(winner["refresh"]))
    assert refused(read(winner["access"]))
    assert reuse_audits(user) == [("refresh", False)]


class TestSignOutEverywhere:
    def test_every_access_and_refresh_token_is_void_on_the_next_request(self):
        user = UserFactory()
        phone, laptop = sign_in(user), sign_in(user)
        for pair in (phone, laptop):
            assert read(pair["access"]).status_code == 200  # now in this process's cache
        assert bearer(access=phone["access"]).post(EVERYWHERE).status_code == 204
        for pair in (phone, laptop):
            assert refused(read(pair["access"]))
            assert refused(write(pair["access"]))
            assert refused(refresh(pair["refresh"]))
        # Signing in again works.
        assert read(sign_in(user)["access"]).status_code == 200
        assert reuse_audits(user) == []

    def test_it_needs_a_valid_token(self):
        response = Client().post(EVERYWHERE)
        assert (response.status_code, body(response)["code"]) == (401, "not_authenticated")
        user = UserFactory()
        access = sign_in(user)["access"]
        assert bearer(access=access).post(EVERYWHERE).status_code == 204
        assert refused(bearer(access=access).post(EVERYWHERE))

    def test_others_are_untouched(self):
        user, other = UserFactory(), UserFactory()
        theirs = sign_in(other)
        bearer(user).post(EVERYWHERE)
        assert read(theirs["access"]).status_code == 200
        assert refresh(theirs["refresh"]).status_code == 200

    def test_a_revocation_in_another_process_reaches_reads_within_the_cache_bound(self, settings):
        settings.API_REVOCATION_CACHE_SECONDS = 0.2
        user = UserFactory()
        access = sign_in(user)["access"]
        assert read(access).status_code == 200
        # Another process signs the user out: this process's signals never see it.
        with connections[TENANT_DB].cursor() as cursor:
            cursor.execute("UPDATE users SET tokens_valid_after = now() WHERE id = %s", [user.pk])
        assert refused(write(access))  # writes read live
        time.sleep(0.3)
        assert refused(read(access))


class TestCredentialChanges:
    def test_a_password_change_voids_every_token(self):
        user = UserFactory()
        pair = sign_in(user)
        assert read(pair["access"]).status_code == 200
        account = User.objects.get(pk=user.pk)
        account.set_password("a-new-password-456")
        account.save()
        assert refused(read(pair["access"]))
        assert refused(write(pair["access"]))
        assert refused(refresh(pair["refresh"]))
        assert read(sign_in(user, password="a-new-password-456")["access"]).status_code == 200

    def test_saving_the_user_without_changing_credentials_voids_nothing(self):
        user = UserFactory()
        pair = sign_in(user)
        account = User.objects.get(pk=user.pk)
        account.first_name = "Changed"
        account.save()
        assert read(pair["access"]).status_code == 200
        assert refresh(pair["refresh"]).status_code == 200

    def test_a_deactivation_voids_every_token_and_a_reactivation_does_not_revive_them(self):
        user = UserFactory()
        pair = sign_in(user)
        assert read(pair["access"]).status_code == 200
        account = User.objects.get(pk=user.pk)
        account.is_active = False
        account.save(update_fields=["is_active"])
        assert refused(read(pair["access"]))
        account.is_active = True
        account.save(update_fields=["is_active"])
        assert refused(read(pair["access"]))
        assert refused(refresh(pair["refresh"]))

    def test_a_deactivation_in_another_process_reaches_reads_within_a_second_not_the_identity_cache_ttl(self, settings):
        settings.API_IDENTITY_CACHE_SECONDS = 30  # the User itself may be cached long...
        settings.API_REVOCATION_CACHE_SECONDS = 0.2  # ...its active flag and stamp are not
        user = UserFactory()
        access = sign_in(user)["access"]
        assert read(access).status_code == 200
        with connections[TENANT_DB].cursor() as cursor:
            cursor.execute("UPDATE users SET is_active = false WHERE id = %s", [user.pk])
        time.sleep(0.3)
        assert read(access).status_code == 401


class CountingHasher(MD5PasswordHasher):
    """The tests' MD5 hasher, counting how many hashes are computed."""

    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


class UpgradedHasher(MD5PasswordHasher):
    """A "new" hasher: hashes made by the old one are upgraded when their password is checked."""

    algorithm = "md5-upgraded"


def test_a_hash_upgrade_at_sign_in_is_not_a_password_change(settings):
    user = UserFactory()
    earlier = sign_in(user)
    settings.PASSWORD_HASHERS = [
        "tests.api.test_sessions.UpgradedHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    sign_in(user)  # the stored hash is upgraded and saved
    assert User.objects.get(pk=user.pk).password.startswith("md5-upgraded$")
    assert read(earlier["access"]).status_code == 200
    assert refresh(earlier["refresh"]).status_code == 200


class TestSignInTiming:
    def test_an_unknown_email_costs_one_password_hash_like_a_wrong_password(self, settings):
        settings.PASSWORD_HASHERS = ["tests.api.test_sessions.CountingHasher"]
        user = UserFactory()
        inactive = UserFactory(is_active=False)
        invited = UserFactory(password=None)  # no usable password (yet)
        invited.set_unusable_password()
        invited.save()
        spent = {}
        for case, email in (
            ("wrong password", user.email),
            ("unknown email", "NOBODY@example.test"),
            ("inactive", inactive.email),
            ("no usable password", invited.email),
        ):
            CountingHasher.calls = 0
            response = send_json(Client(), "post", TOKEN, {"email": email, "password": "not-the-password"})
            assert response.status_code == 401
            spent[case] = CountingHasher.calls
        assert spent == {"wrong password": 1, "unknown email": 1, "inactive": 1, "no usable password": 1}
        CountingHasher.calls = 0
        assert send_json(Client(), "post", TOKEN, {"email": user.email, "password": PASSWORD}).status_code == 200
        assert CountingHasher.calls == 1


def test_the_daily_purge_drops_only_families_whose_tokens_have_all_expired():
    from datetime import timedelta

    from django.utils import timezone

    from breederhq.tasks import flush_expired_tokens
    from tenant_app.models import RefreshTokenFamily

    user = UserFactory()
    old, current = sign_in(user), sign_in(user)
    fam = lambda pair: jwt.decode(pair["refresh"], options={"verify_signature": False})["fam"]  # noqa: E731
    RefreshTokenFamily.objects.filter(id=fam(old)).update(last_issued_at=timezone.now() - timedelta(days=15))
    assert flush_expired_tokens() == "flushed, 1 sign-in families dropped"
    assert list(RefreshTokenFamily.objects.filter(user_id=user.pk).values_list("id", flat=True)) == [
        uuid.UUID(fam(current))
    ]
    assert refresh(current["refresh"]).status_code == 200


def test_signing_out_everywhere_through_the_api_ends_the_users_django_sessions_too():
    """A browser session (Django's session cookie) is one of "everywhere": it ends with the tokens."""
    user, bystander = UserFactory(), UserFactory()
    browser, other = Client(), Client()
    browser.force_login(user)
    other.force_login(bystander)
    assert browser.get(ME).status_code == 200
    assert bearer(user).post(EVERYWHERE).status_code == 204
    assert browser.get(ME).status_code == 401
    assert "_auth_user_id" not in browser.session
    assert other.get(ME).status_code == 200
    # Signing in again works as before.
    browser.force_login(User.objects.get(pk=user.pk))
    assert browser.get(ME).status_code == 200
