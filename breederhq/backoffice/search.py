"""Support search across tenants: one query finds invoices by number, people by email and payments
or accounts by Stripe id, in both databases, without choosing a tenant first.

Tenant tables force row-level security, so the tenant database is read through the audited
system-read path (`breederhq.tenancy.system_read_context`: SELECT only, one `cross_tenant_query_audit`
row naming the staff member, the query and their reason). Each tenant hit links to "work on this
tenant" with the tenant chosen, the search's reason filled in and the row's admin page as the next
page, so one click lands staff in the right tenant's context (audited again, with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB
from breederhq.money import Money
from breederhq.tenancy import system_read_context

MAX_HITS_PER_KIND = 20


@dataclass(frozen=True)
class SearchHit:
    kind: str
    label: str
    detail: str
    tenant_id: int | None
    tenant_name: str
    url: str


def _tenant_link(tenant_id: int, change_url: str, reason: str) -> str:
    """ "Work on this tenant" with the tenant chosen and the search's reason filled in (staff confirm
    or change it), then the row's page."""
    query = urlencode({"tenant": tenant_id, "reason": reason, "next": change_url})
    return f"{reverse('backoffice:support')}?{query}"


def support_search(*, query: str, staff_user, reason: str) -> list[SearchHit]:
    from marketplace_app.models import MarketplaceInvoice, MarketplaceUser
    from payments_app.models import InvoicePayment, StripeConnectAccount
    from tenant_app.models import Contact, Invoice, Tenant, User

    query = query.strip()
    hits: list[SearchHit] = []
    with system_read_context(
        job="support_search", user_id=staff_user.pk, reason=f"support search for {query!r}: {reason}"[:500]
    ):
        tenants = {}

        def tenant_name(tenant_id):
            if tenant_id not in tenants:
                tenants[tenant_id] = Tenant.objects.filter(pk=tenant_id).values_list("name", flat=True).first() or "?"
            return tenants[tenant_id]

        for invoice in Invoice.all_objects.filter(invoice_number__iexact=query).order_by("id")[:MAX_HITS_PER_KIND]:
            url = reverse("admin:tenant_app_invoice_change", args=[invoice.pk])
            hits.append(
                SearchHit(
                    "tenant invoice",
                    invoice.invoice_number,
                    f"{Money(invoice.total_cents, invoice.currency).format()} · {invoice.get_status_display()}",
                    invoice.tenant_id,
                    tenant_name(invoice.tenant_id),
                    _tenant_link(invoice.tenant_id, url, reason),
                )
            )
        if "@" in query:
            for contact in Contact.all_objects.filter(email__iexact=query).order_by("id")[:MAX_HITS_PER_KIND]:
                url = reverse("admin:tenant_app_contact_change", args=[contact.pk])
                hits.append(
                    SearchHit(
                        "contact",
                        str(contact),
                        contact.email,
                        contact.tenant_id,
                        tenant_name(contact.tenant_id),
                        _tenant_link(contact.tenant_id, url, reason),
                    )
                )
            for user in User.objects.filter(email__iexact=query)[:MAX_HITS_PER_KIND]:
                hits.append(
                    SearchHit(
                        "account",
                        user.email,
                        "staff" if user.is_staff else "user",
                        None,
                        "",
                        reverse("admin:tenant_app_user_change", args=[user.pk]),
                    )
                )
        if query.startswith(("pi_", "ch_", "re_", "cus_", "acct_")):
            for payment in InvoicePayment.objects.filter(stripe_payment_intent_id=query).order_by("id")[
                :MAX_HITS_PER_KIND
            ]:
                url = reverse("admin:payments_app_invoicepayment_change", args=[payment.pk])
                tenant_id = payment.owner_tenant_id
                hits.append(
                    SearchHit(
                        "payment",
                        query,
                        f"{payment.invoice_kind} invoice #{payment.invoice_id} · "
                        f"{Money(payment.amount_cents, payment.currency).format()}",
                        tenant_id,
                        tenant_name(tenant_id) if tenant_id else "",
                        _tenant_link(tenant_id, url, reason) if tenant_id else url,
                    )
                )
            for account in StripeConnectAccount.objects.filter(stripe_account_id=query)[:MAX_HITS_PER_KIND]:
                url = reverse("admin:payments_app_stripeconnectaccount_change", args=[account.pk])
                tenant_id = account.owner_tenant_id
                hits.append(
                    SearchHit(
                        "Stripe account",
                        query,
                        account.owner_type,
                        tenant_id,
                        tenant_name(tenant_id) if tenant_id else "",
                        _tenant_link(tenant_id, url, reason) if tenant_id else url,
                    )
                )
    for invoice in (
        MarketplaceInvoice.objects.using(MARKETPLACE_DB)
        .filter(invoice_number__iexact=query)
        .order_by("id")[:MAX_HITS_PER_KIND]
    ):
        hits.append(
            SearchHit(
                "marketplace invoice",
                invoice.invoice_number,
                f"{Money(invoice.total_cents, invoice.currency).format()} · {invoice.status}",
                None,
                "",
                reverse("admin:marketplace_app_marketplaceinvoice_change", args=[invoice.pk]),
            )
        )
    if "@" in query:
        for person in MarketplaceUser.all_objects.using(MARKETPLACE_DB).filter(email__iexact=query)[:MAX_HITS_PER_KIND]:
            hits.append(
                SearchHit(
                    "marketplace user",
                    person.email,
                    person.display_name,
                    None,
                    "",
                    reverse("admin:marketplace_app_marketplaceuser_change", args=[person.pk]),
                )
            )
    return hits
