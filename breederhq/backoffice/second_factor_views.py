"""The second-factor pages of the back office: verify a code, enrol an authenticator app, and
regenerate recovery codes (breederhq.backoffice.second_factor holds the rules)."""

from __future__ import annotations

import logging

import django_otp
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from breederhq.backoffice import second_factor as sf
from breederhq.errors import DomainError

logger = logging.getLogger(__name__)


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "size": 12, "spellcheck": "false"}
        ),
    )


def _next(request) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def _gate(request):
    """None when this is a signed-in active staff member; else where to send them."""
    user = request.user
    if not (sf.is_staff_account(user) and user.is_active):
        return redirect_to_login(_next(request), reverse("admin:login"))
    if sf.session_is_verified(user):
        return HttpResponseRedirect(_next(request))
    return None


def _context(request, **extra):
    return {**admin.site.each_context(request), "next": _next(request), "next_name": REDIRECT_FIELD_NAME, **extra}


def _verified(request, device) -> None:
    django_otp.login(request, device)
    request.session.cycle_key()  # a new session id once the second factor is passed


def verify_view(request):
    """Enter a code from the authenticator app, or a recovery code."""
    if (redirect := _gate(request)) is not None:
        return redirect
    if not sf.has_any_device(request.user):
        return redirect_to_login(_next(request), reverse("admin:second_factor_enrol"))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = sf.verify(user=request.user, code=form.cleaned_data["code"])
        except DomainError as exc:
            logger.warning("second factor refused", extra={"staff_user_id": request.user.pk, "code": exc.code})
            form.add_error("code", exc.detail)
        else:
            _verified(request, device)
            if isinstance(device, sf.StaticDevice):
                left = sf.recovery_codes_left(request.user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. "
                    f"Generate new ones from “Second factor” if you are running low.",
                )
            return HttpResponseRedirect(_next(request))
    return TemplateResponse(
        request, "admin/backoffice/second_factor_verify.html", _context(request, title="Second factor", form=form)
    )


#: The pending device this session was shown: only it can be confirmed from this session.
ENROLMENT_SESSION_KEY = "second_factor_enrolment_device"


def enrol_view(request):
    """First sign-in without a device: add the secret to an authenticator app, confirm a code."""
    if (redirect := _gate(request)) is not None:
        return redirect
    if sf.has_any_device(request.user):
        return redirect_to_login(_next(request), reverse("admin:second_factor"))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = sf.enrolment_confirm(
                user=request.user, code=form.cleaned_data["code"], device_id=request.session.get(ENROLMENT_SESSION_KEY)
            )
        except DomainError as exc:
            form.add_error("code", exc.detail)
        else:
            request.session.pop(ENROLMENT_SESSION_KEY, None)
            _verified(request, enrolment.device)
            return TemplateResponse(
                request,
                "admin/backoffice/second_factor_recovery_codes.html",
                _context(request, title="Your recovery codes", codes=enrolment.recovery_codes, enrolled=True),
            )
    # A GET shows this session's pending secret (a fresh one if it has none, which voids any other
    # session's); a refused code shows the same again, or, if another session replaced it, none.
    device = sf.enrolment_device(
        user=request.user, device_id=request.session.get(ENROLMENT_SESSION_KEY), create=request.method != "POST"
    )
    if device is not None:
        request.session[ENROLMENT_SESSION_KEY] = device.pk
    return TemplateResponse(
        request,
        "admin/backoffice/second_factor_enrol.html",
        _context(
            request,
            title="Set up your second factor",
            form=form,
            secret=sf.totp_secret_base32(device) if device else None,
            otpauth_uri=device.config_url if device else None,
        ),
    )


def recovery_codes_view(request):
    """A verified staff member's recovery codes: how many are left; new ones on request."""
    if request.method == "POST":
        try:
            codes = sf.recovery_codes_regenerate(user=request.user)
        except DomainError as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(reverse("admin:second_factor_recovery_codes"))
        return TemplateResponse(
            request,
            "admin/backoffice/second_factor_recovery_codes.html",
            _context(request, title="Your new recovery codes", codes=codes, enrolled=False),
        )
    return TemplateResponse(
        request,
        "admin/backoffice/second_factor_recovery_codes.html",
        _context(request, title="Recovery codes", codes=None, left=sf.recovery_codes_left(request.user)),
    )
