"""Every staff member needs a second factor for the back office: a password alone opens no admin
page; a staff member without a device enrols (secret, first code, recovery codes); recovery codes
work once each; wrong codes are refused and throttled; another staff member with the right can
reset a lost device (audited); the API gives an unverified staff session nothing a session gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from breederhq.backoffice import second_factor as sf
from breederhq.backoffice.models import StaffActionAudit
from breederhq.backoffice.view_as import SESSION_KEY as VIEW_AS_KEY
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tenant_app.models import User
from tests.backoffice.conftest import PASSWORD, _staff
from tests.factories.tenant import TenantFactory
from tests.staff import authenticator, staff_login, totp_code

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

INDEX = reverse("admin:index")
VERIFY = reverse("admin:second_factor")
ENROL = reverse("admin:second_factor_enrol")
RECOVERY = reverse("admin:second_factor_recovery_codes")
USERS = reverse("admin:tenant_app_user_changelist")
INVOICES = reverse("admin:tenant_app_invoice_changelist")


def password_login(user: User, next_url: str = INDEX) -> tuple[Client, object]:
    """Sign in through the admin's real password form; returns the client and the response."""
    client = Client()
    response = client.post(
        f"{reverse('admin:login')}?next={next_url}", {"username": user.username, "password": PASSWORD, "next": next_url}
    )
    return client, response


def audits(action: str) -> list[tuple]:
    return list(
        StaffActionAudit.objects.filter(action=action)
        .order_by("id")
        .values_list("actor_username", "target_model", "target_id", "result")
    )


def recovery_codes(user) -> list[str]:
    return list(StaticToken.objects.filter(device__user_id=user.pk).values_list("token", flat=True))


@pytest.fixture
def staff(groups):
    return _staff("sam.staff@breederhq.test", "support")


@pytest.fixture
def enrolled(staff):
    """Sam has an authenticator app and ten recovery codes (enrolled as at her first sign-in)."""
    client = Client()
    client.force_login(staff)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=staff)
    response = client.post(ENROL, {"code": totp_code(device)})
    assert response.status_code == 200 and len(response.context["codes"]) == 10
    return staff


# --- A password alone opens nothing -------------------------------------------------------------------


@pytest.mark.parametrize("superuser", [False, True], ids=["support", "superuser"])
def test_a_password_alone_opens_no_admin_page(groups, superuser):
    user = _staff("root@breederhq.test", superuser=True) if superuser else _staff("sue@breederhq.test", "support")
    client, response = password_login(user, next_url=INVOICES)
    # Straight from the password form to the second factor, the page asked for kept.
    assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next={INVOICES}"
    pages = [
        INDEX,
        INVOICES,
        USERS,
        reverse("admin:backoffice_staffactionaudit_changelist"),
        reverse("backoffice:dashboard"),
        reverse("backoffice:support"),
        reverse("backoffice:view_as"),
        RECOVERY,
        reverse("admin:password_change"),
        reverse("admin:tenant_app_user_change", args=[user.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(VERIFY + "?next="), url
    response = client.post(
        USERS,
        {
            "action": "reset_second_factor",
            "_selected_action": [user.pk],
            "confirmed": "yes",
            "reason": "trying without a code",
        },
    )
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    # Without a device, the second-factor page leads to enrolment; the login page too.
    assert client.get(VERIFY)["Location"].startswith(ENROL)
    assert client.get(reverse("admin:login"))["Location"].startswith(VERIFY)
    assert not StaffActionAudit.objects.exists()


def test_signing_out_needs_no_second_factor(staff):
    client, _ = password_login(staff)
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert client.get(VERIFY)["Location"].startswith(reverse("admin:login"))


def test_non_staff_are_not_offered_a_second_factor(groups):
    from tests.factories.tenant import UserFactory

    client = Client()
    client.force_login(UserFactory())
    for url in (VERIFY, ENROL):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not TOTPDevice.objects.exists()


# --- Enrolment ----------------------------------------------------------------------------------------


def test_enrolment_shows_a_secret_a_first_code_confirms_it_then_recovery_codes(staff):
    client, _ = password_login(staff, next_url=INVOICES)
    response = client.get(f"{VERIFY}?next={INVOICES}")
    assert response["Location"] == f"{ENROL}?next={INVOICES}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=staff)
    assert not device.confirmed
    body = page.content.decode()
    assert sf.totp_secret_base32(device) in body and "otpauth://totp/" in body
    assert client.get(ENROL).context["secret"] == page.context["secret"]  # the same secret on every visit
    assert TOTPDevice.objects.filter(user=staff).count() == 1

    wrong = client.post(ENROL, {"code": "000000" if totp_code(device) != "000000" else "111111", "next": INVOICES})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert client.get(INDEX)["Location"].startswith(VERIFY)
    device.refresh_from_db()
    assert (device.confirmed, device.throttling_failure_count) == (False, 1)
    device.throttling_failure_timestamp = None  # no waiting in a test: the throttle has its own test
    device.save()

    # A code computed from the device's secret, as the staff member's app computes it.
    code = f"{TOTP(device.bin_key).token():06d}"
    done = client.post(ENROL, {"code": code, "next": INVOICES})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == len(set(codes)) == 10 and sorted(codes) == sorted(recovery_codes(staff))
    assert all(code in done.content.decode() for code in codes)
    assert f'href="{INVOICES}"' in done.content.decode()  # continue where they were going
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(INDEX).status_code == 200
    assert audits(sf.ENROLLED) == [
        (staff.username, "tenant_app.User", str(staff.pk), "authenticator app confirmed, 10 recovery codes issued")
    ]
    # Enrolled: the enrolment page is closed (it never shows a secret again).
    assert client.get(ENROL).status_code == 302
    assert "secret" not in (client.get(ENROL, follow=True).context or {}).keys()


def test_someone_with_only_the_password_cannot_enrol_over_an_existing_device(enrolled):
    client, _ = password_login(enrolled)
    response = client.get(ENROL)
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    response = client.post(ENROL, {"code": "123456"})
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=enrolled).count() == 1
    assert client.get(INDEX)["Location"].startswith(VERIFY)


# --- Verification ---------------------------------------------------------------------------------------


def test_verification_with_the_app_then_every_page_opens(enrolled):
    client, _ = password_login(enrolled, next_url=INVOICES)
    response = client.post(VERIFY, {"code": totp_code(TOTPDevice.objects.get(user=enrolled)), "next": INVOICES})
    assert response.status_code == 302 and response["Location"] == INVOICES
    assert client.get(INDEX).status_code == 200
    assert client.get(reverse("backoffice:dashboard")).status_code == 200


def test_a_wrong_code_is_refused_and_repeated_failures_are_throttled(enrolled):
    client, _ = password_login(enrolled)
    device = TOTPDevice.objects.get(user=enrolled)
    good = totp_code(device)
    bad = "000000" if good != "000000" else "111111"
    response = client.post(VERIFY, {"code": bad})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get(INDEX)["Location"].startswith(VERIFY)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1

    # Ten wrong codes in a row: the device refuses even the right code for 2**9 seconds.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=10, throttling_failure_timestamp=timezone.now()
    )
    response = client.post(VERIFY, {"code": good})
    body = response.content.decode()
    assert response.status_code == 200 and "10 wrong codes in a row" in body and "Wait until then" in body
    assert client.get(INDEX)["Location"].startswith(VERIFY)
    # Recovery codes are another device, throttled on their own.
    StaticDevice.objects.filter(user=enrolled).update(
        throttling_failure_count=10, throttling_failure_timestamp=timezone.now()
    )
    response = client.post(VERIFY, {"code": recovery_codes(enrolled)[0]})
    assert "10 wrong codes in a row" in response.content.decode()
    assert len(recovery_codes(enrolled)) == 10  # a refused attempt uses nothing up

    # Once the wait is over the right code works and the count starts again.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now() - timedelta(hours=1))
    assert client.post(VERIFY, {"code": good}).status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    assert client.get(INDEX).status_code == 200


def test_a_recovery_code_works_once_and_only_once(enrolled):
    code = recovery_codes(enrolled)[0]
    first, _ = password_login(enrolled)
    response = first.post(VERIFY, {"code": f" {code.upper()[:4]}-{code.upper()[4:]} "})  # as typed from paper
    assert response.status_code == 302
    assert first.get(INDEX).status_code == 200
    assert code not in recovery_codes(enrolled) and len(recovery_codes(enrolled)) == 9
    assert audits(sf.RECOVERY_CODE_USED) == [
        (enrolled.username, "tenant_app.User", str(enrolled.pk), "9 recovery codes left")
    ]

    second, _ = password_login(enrolled)
    response = second.post(VERIFY, {"code": code})
    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert second.get(INDEX)["Location"].startswith(VERIFY)
    assert len(audits(sf.RECOVERY_CODE_USED)) == 1


def test_recovery_codes_are_regenerated_by_their_owner_and_the_old_ones_stop_working(enrolled):
    old = recovery_codes(enrolled)
    client = staff_login(Client(), enrolled)
    page = client.get(RECOVERY)
    assert page.status_code == 200 and page.context["left"] == 10
    response = client.post(RECOVERY)
    assert response.status_code == 200
    new = response.context["codes"]
    assert len(new) == 10 and sorted(new) == sorted(recovery_codes(enrolled)) and not set(new) & set(old)
    assert audits(sf.RECOVERY_CODES_REGENERATED) == [
        (enrolled.username, "tenant_app.User", str(enrolled.pk), "10 new recovery codes, the old ones no longer work")
    ]
    other, _ = password_login(enrolled)
    assert other.post(VERIFY, {"code": old[0]}).status_code == 200
    StaticDevice.objects.filter(user=enrolled).update(throttling_failure_timestamp=None)
    assert other.post(VERIFY, {"code": new[0]}).status_code == 302
    # Someone with only the password cannot regenerate them.
    third, _ = password_login(enrolled)
    assert third.post(RECOVERY)["Location"].startswith(VERIFY)
    assert len(recovery_codes(enrolled)) == 9


# --- Reset by another staff member -------------------------------------------------------------------


def reset(client, target, reason="ticket #9: lost her phone and her codes"):
    return client.post(
        USERS, {"action": "reset_second_factor", "_selected_action": [target.pk], "confirmed": "yes", "reason": reason}
    )


def test_a_superuser_resets_a_lost_device_and_the_staff_member_enrols_again(enrolled, superuser_client):
    sue = Client()
    staff_login(sue, enrolled)
    assert sue.get(INDEX).status_code == 200

    assert reset(superuser_client, enrolled).status_code == 302
    assert not TOTPDevice.objects.filter(user=enrolled).exists()
    assert not StaticDevice.objects.filter(user=enrolled).exists()
    audit = StaffActionAudit.objects.get(action="reset_second_factor")
    assert (audit.actor_username, audit.target_model, audit.target_id, audit.reason, audit.result) == (
        superuser_client.user.username,
        "tenant_app.User",
        str(enrolled.pk),
        "ticket #9: lost her phone and her codes",
        "1 authenticator device(s) and 1 recovery code set(s) removed; signed out everywhere",
    )

    # Her session has ended (a reset signs out everywhere: whoever has the phone may have a session
    # too); signed in again with her password, she must enrol anew.
    response = sue.get(INDEX)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in sue.session
    sue, _ = password_login(enrolled)
    assert sue.get(VERIFY)["Location"].startswith(ENROL)
    assert sue.get(ENROL).status_code == 200


def test_only_staff_with_the_reset_right_may_reset_and_never_their_own_or_a_superusers(
    enrolled, support_client, bare_staff_client, superuser_client
):
    # Support (view rights on users, no reset right): the action is not offered.
    page = support_client.get(USERS)
    assert page.status_code == 200 and "reset_second_factor" not in page.content.decode()
    reset(support_client, enrolled)
    assert TOTPDevice.objects.filter(user=enrolled).exists()
    assert not StaffActionAudit.objects.filter(action="reset_second_factor").exists()

    # A staff member given the right (and view rights on users) may reset another staff member's ...
    helper = bare_staff_client.user
    helper.user_permissions.add(
        Permission.objects.get(codename="reset_second_factor"),
        Permission.objects.get(codename="view_user", content_type__app_label="tenant_app"),
    )
    root = superuser_client.user
    assert reset(bare_staff_client, helper).status_code == 302  # ... not their own
    assert reset(bare_staff_client, root).status_code == 302  # ... nor a superuser's
    assert TOTPDevice.objects.filter(user=helper).exists() and TOTPDevice.objects.filter(user=root).exists()
    assert reset(bare_staff_client, enrolled).status_code == 302
    assert not TOTPDevice.objects.filter(user=enrolled).exists()
    results = list(
        StaffActionAudit.objects.filter(action="reset_second_factor").order_by("id").values_list("target_id", "result")
    )
    assert results == [
        (str(helper.pk), "refused: Ask another staff member to reset your own second factor."),
        (str(root.pk), "refused: Only a superuser may reset a superuser's second factor."),
        (str(enrolled.pk), "1 authenticator device(s) and 1 recovery code set(s) removed; signed out everywhere"),
    ]


def test_the_user_list_shows_who_has_a_second_factor(enrolled, superuser_client):
    _staff("new.hire@breederhq.test", "support")
    page = superuser_client.get(USERS)
    rows = {row.email: row.second_factor_enrolled for row in page.context["cl"].result_list}
    assert rows[enrolled.email] is True and rows["new.hire@breederhq.test"] is False


# --- Beyond the admin: the API and "view as" ----------------------------------------------------------


def test_an_unverified_staff_session_is_anonymous_to_the_api(staff):
    me = reverse("api-v1:auth-me")
    unverified, _ = password_login(staff)
    response = unverified.get(me)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert staff_login(Client(), staff).get(me).status_code == 200


def test_no_tenant_is_resolved_for_an_unverified_staff_session(staff):
    """Anonymous to the API means anonymous to the tenant resolution too: naming a tenant writes no
    refusal on the staff member's behalf, and a tenant of theirs is not entered."""
    from breederhq.models import AuthorizationAudit
    from breederhq.tenancy import tenant_context
    from tenant_app.models import TenantMembership

    mine, other = TenantFactory(), TenantFactory()
    with tenant_context(mine.pk):
        TenantMembership.objects.create(tenant=mine, user=staff, role="owner")
    unverified, _ = password_login(staff)
    for tenant in (other, mine):
        response = unverified.get("/api/v1/contacts/", HTTP_X_TENANT_ID=str(tenant.pk))
        assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert not AuthorizationAudit.objects.using(TENANT_DB).filter(user_id=staff.pk).exists()


def test_view_as_ends_when_the_staff_members_second_factor_is_reset(support_client, superuser_client):
    owner = TenantFactory().owner_user
    response = support_client.post(reverse("backoffice:view_as"), {"user": owner.pk, "reason": "ticket #5: check"})
    assert response.status_code == 302
    assert support_client.get(reverse("api-v1:auth-me"))["X-Viewing-As"] == owner.email

    assert reset(superuser_client, support_client.user).status_code == 302
    response = support_client.get(reverse("api-v1:auth-me"))
    assert response.status_code == 401 and "X-Viewing-As" not in response
    assert VIEW_AS_KEY not in support_client.session


def test_the_device_secrets_have_no_admin_pages(superuser_client):
    from django.contrib import admin

    assert not admin.site.is_registered(TOTPDevice) and not admin.site.is_registered(StaticDevice)
    assert authenticator(superuser_client.user).confirmed


def test_a_reset_from_the_shell_when_nobody_can_sign_in(enrolled):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("reset_second_factor", enrolled.email, reason="the only superuser lost the phone", stdout=out)
    assert "removed" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=enrolled).exists()
    audit = StaffActionAudit.objects.get(action="reset_second_factor")
    assert (audit.actor_id, audit.actor_username, audit.target_id, audit.reason) == (
        0,
        "manage.py",
        str(enrolled.pk),
        "the only superuser lost the phone",
    )


def test_a_secret_shown_to_one_session_stops_working_when_another_session_enrols(staff):
    """Someone with only the password opens the enrolment page and copies the secret without
    confirming it; the staff member later enrols from their own browser: the copied secret is worth
    nothing, neither before nor after the staff member confirms theirs."""
    intruder, _ = password_login(staff)
    copied = intruder.get(ENROL).context["secret"]
    copied_device = TOTPDevice.objects.get(user=staff)

    owner, _ = password_login(staff)
    page = owner.get(ENROL)
    assert page.context["secret"] != copied
    mine = TOTPDevice.objects.get(user=staff)  # the copied one is gone
    assert mine.pk != copied_device.pk and sf.totp_secret_base32(mine) == page.context["secret"]

    # The intruder's code (from the copied secret) no longer confirms anything, nor does it confirm
    # the staff member's pending device from the intruder's session.
    copied_code = f"{TOTP(copied_device.bin_key).token():06d}"  # what the intruder's app shows
    response = intruder.post(ENROL, {"code": copied_code})
    assert response.status_code == 200 and "Open the enrolment page first" in response.content.decode()
    response = intruder.post(ENROL, {"code": totp_code(mine)})
    assert response.status_code == 200 and "Open the enrolment page first" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()

    assert owner.post(ENROL, {"code": totp_code(mine)}).status_code == 200
    assert list(TOTPDevice.objects.filter(user=staff).values_list("pk", "confirmed")) == [(mine.pk, True)]
    # The copied secret signs nobody in.
    response = intruder.post(VERIFY, {"code": f"{TOTP(copied_device.bin_key).token():06d}"})
    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert intruder.get(INDEX)["Location"].startswith(VERIFY)
