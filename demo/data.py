"""The small demo data set `make run` loads: enough for every page — every admin change list of both
databases included — to show something real.

Idempotent: every row is looked up by a natural key before it is created.

A few rows are deliberate faults, so support has something to practise on (a dead-lettered webhook,
a stuck outbox message, an undeliverable email). They are marked as demo data (`evt_demo_*` event
ids, `demo:` event keys, the `demo_fault` key in an outbox message's payload), what the real code
logs while making them is logged at INFO as a deliberate demo fault instead of ERROR, and
`crossdb_check` lists a marked outbox message as a demo fault, not as a problem.

This module is the entry point; the rows are made by entity: tenants.py (Sunny Kennels, its contacts,
invoices and team), marketplace.py (buyer, providers, listings, moderation), sales.py (breeder sales
across both databases, invoice PDFs), payments.py (the Stripe side, as signed webhooks), operations.py
(email, API traces, beat's schedule), with base.py (demo users) and faults.py (deliberate faults).
"""

from __future__ import annotations

from django.db import transaction

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from demo.base import DEMO_PASSWORD, demo_user, in_tenant
from demo.marketplace import load_marketplace_demo_data, self_service, sunny_breeder, user_blocks
from demo.operations import api_traces, scheduled_jobs, undeliverable_email
from demo.payments import stripe_demo
from demo.sales import breeder_sales, invoice_documents
from demo.tenants import link_contact, sunny_kennels, sunny_team

__all__ = ["DEMO_PASSWORD", "load_back_office_demo_data", "load_demo_data", "load_marketplace_demo_data"]


def load_demo_data(*, back_office: bool = True) -> list[tuple[str, str]]:
    """Create the demo rows if missing; return (login, description) pairs to print. `back_office`
    adds what fills every admin page (Stripe events, outbox, audits...; see below)."""
    with transaction.atomic(using=TENANT_DB):
        demo_user(email="admin@breederhq.test", is_staff=True, is_superuser=True, first_name="Ada")
        sunny_kennels()
    logins = [
        (
            "admin@breederhq.test",
            "superuser: the back office at /admin/ (on first sign-in, set up a second "
            "factor with any authenticator app: docs/operations/staff-2fa.md)",
        ),
        ("owner@sunny-kennels.test", "owner of the demo tenant Sunny Kennels (contacts, invoices)"),
    ]
    logins += load_marketplace_demo_data()
    if back_office:
        load_back_office_demo_data()
    return logins


# --- The back office's pages: every admin change list shows at least one real row ---------------------
# (tests/backoffice/test_demo_data_pages.py walks them). Everything goes through the services, the
# outbox relay and the Stripe webhook inbox, except what only Stripe itself could answer here: the
# Connect account's onboarding, the card payment's intent and a reconciliation run's listing, which
# are recorded as those flows record them.


def load_back_office_demo_data() -> None:
    from marketplace_app.models import MarketplaceUser, Provider
    from tenant_app.models import Contact, Tenant

    tenant = Tenant.objects.get(slug="sunny-kennels")
    owner = demo_user(email="owner@sunny-kennels.test")
    staff = demo_user(email="admin@breederhq.test")
    buyer = MarketplaceUser.all_objects.using(MARKETPLACE_DB).get(email="buyer@breederhq.test")
    groomer = Provider.all_objects.using(MARKETPLACE_DB).get(business_name="Happy Paws Grooming")
    maya = in_tenant(tenant, lambda: Contact.objects.get(email="maya.lopez@example.test"))
    link_contact(tenant, maya, buyer)
    sunny_team(tenant, owner)
    breeder = sunny_breeder(tenant, owner)
    breeder_sales(tenant, owner, maya, breeder, buyer)
    stripe_demo(tenant, owner, maya, breeder, buyer)
    user_blocks(groomer, staff)
    undeliverable_email()
    api_traces(buyer, owner, tenant)
    scheduled_jobs()
    invoice_documents(tenant)
    self_service(groomer)
