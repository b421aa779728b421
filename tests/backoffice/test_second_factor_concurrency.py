"""One recovery code typed in two sessions at the same moment signs in exactly one of them
(the recovery-code device is locked while a code is checked and used up)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connections
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from breederhq.backoffice.models import StaffActionAudit
from breederhq.backoffice.second_factor import RECOVERY_CODE_USED
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.backoffice.conftest import _staff
from tests.backoffice.test_second_factor import password_login
from tests.staff import authenticator
from tests.tenant_app.test_concurrency import Worker, wait_until_a_session_waits_for_a_lock

pytestmark = [pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True), pytest.mark.slow]


def test_the_same_recovery_code_at_once_in_two_sessions_signs_in_one(groups):
    staff = _staff("sam.staff@breederhq.test", "support")
    authenticator(staff)
    device = StaticDevice.objects.create(user=staff, name="recovery codes", confirmed=True)
    StaticToken.objects.create(device=device, token="abcd2345")
    clients = [password_login(staff)[0] for _ in range(2)]

    with psycopg.connect(**connections[TENANT_DB].get_connection_params()) as holder:
        holder.execute("SELECT id FROM otp_static_staticdevice WHERE id = %s FOR UPDATE", [device.pk])
        workers = [
            Worker(lambda c=c: c.post(reverse("admin:second_factor"), {"code": "abcd2345"}).status_code)
            for c in clients
        ]
        for worker in workers:
            worker.start()
        wait_until_a_session_waits_for_a_lock(2)
        holder.rollback()
        statuses = sorted(worker.finish() for worker in workers)

    assert statuses == [200, 302]  # one signed in, the other told the code is not right
    assert sorted(c.get(reverse("admin:index")).status_code for c in clients) == [200, 302]
    assert not StaticToken.objects.exists()
    assert StaffActionAudit.objects.filter(action=RECOVERY_CODE_USED).count() == 1
