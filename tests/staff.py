"""Signing staff into the back office in tests: the password session (force_login) plus the
second factor passed the real way, a code from the staff member's authenticator device posted to
the second-factor page. Other tests stay about what they test."""

from __future__ import annotations

import time

from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_code(device: TOTPDevice) -> str:
    """The code the staff member's app shows now, or the next one if the device already accepted
    this time step's (a code is accepted once; one step ahead is within the device's tolerance)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() <= device.last_t:
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + device.last_t - totp.t() + 1)
        totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def authenticator(user) -> TOTPDevice:
    """The user's confirmed authenticator device (created if missing)."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test phone", confirmed=True)


def pass_second_factor(client: Client, user) -> TOTPDevice:
    device = authenticator(user)
    response = client.post(reverse("admin:second_factor"), {"code": totp_code(device)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return device


def staff_login(client: Client, user) -> Client:
    """Signed in as `user` (a staff member) with the second factor passed."""
    client.force_login(user)
    pass_second_factor(client, user)
    client.user = user
    return client
