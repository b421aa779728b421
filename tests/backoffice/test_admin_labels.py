"""Every admin page reads as a person would: no row is labelled "<Model> object (N)" (Django's
default `__str__`) on any registered model's change list or change page, with the demo data loaded
(`make run`'s), read as a superuser working on the demo tenant."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from demo.data import load_demo_data
from tenant_app.models import Tenant
from tests.backoffice.conftest import work_on
from tests.backoffice.test_every_admin_page import MODELS, _pages

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

DEFAULT_LABEL = re.compile(r"\b([A-Z]\w*) object \((\d+)\)")
#: Models allowed to show a default label: none (every model defines `__str__`).
LEFT_TO_THE_INVOICE_MODELS: set[str] = set()


def test_no_admin_page_shows_a_default_object_label(superuser_client):
    load_demo_data()
    tenant = Tenant.objects.get(slug="sunny-kennels")
    work_on(superuser_client, tenant)
    found: dict[str, set[str]] = {}
    for model in MODELS:
        for url in _pages(model, admin.site._registry[model], tenant):
            response = superuser_client.get(url)
            assert response.status_code == 200, url
            for name, _pk in DEFAULT_LABEL.findall(response.content.decode()):
                if name not in LEFT_TO_THE_INVOICE_MODELS:
                    found.setdefault(name, set()).add(url)
    assert found == {}
