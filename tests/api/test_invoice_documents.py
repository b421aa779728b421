"""Invoice and credit-note PDFs, both invoice kinds: rendered once by a real worker, stored
immutably, attached to the invoice email, downloaded through HTTP by whoever may see the invoice."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from django.core import mail
from django.db import connections
from django.test import Client
from pypdf import PdfReader

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_send
from breederhq.invoicing.documents import DocumentRef, document_ensure, invoice_ref
from breederhq.models import OutboundEmail
from breederhq.tasks import render_invoice_document
from breederhq.tenancy import tenant_context
from marketplace_app import services as marketplace_services
from marketplace_app.models import MarketplaceInvoiceDocument
from tenant_app import services
from tenant_app.models import Invoice, InvoiceDocument
from tests.api.conftest import bearer, member, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory, TenantFactory
from tests.waiting import wait_until

DATABASES = [TENANT_DB, MARKETPLACE_DB]


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def content_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def problem(response, status_code: int, code: str):
    assert (response.status_code, response["Content-Type"]) == (status_code, "application/problem+json"), (
        response.content
    )
    assert response.json()["code"] == code
    return response.json()


def wait_for_document(client: Client, url: str, timeout: float = 60):
    """GET until the worker has rendered it (409 document_not_ready meanwhile)."""
    last = []

    def rendered() -> bool:
        last[:] = [client.get(url)]
        if last[0].status_code != 409:
            return True
        problem(last[0], 409, "document_not_ready")
        assert last[0]["Retry-After"] == "5"
        return False

    wait_until(rendered, timeout=timeout, interval=0.3)
    return last[0]


def breeder_invoice(tenant, *, quantity: int = 2, unit_price_cents: int = 125_000, tax_cents: int = 20_000):
    """A draft with two lines, for a contact with an address (the tenant's context)."""
    with tenant_context(tenant.pk):
        contact = ContactFactory(
            tenant=tenant,
            first_name="Jamie",
            last_name="Zoë Buyer",
            address_line1="12 Kennel Road",
            city="Springfield",
            postal_code="12345",
            country="US",
            email="jamie@example.test",
        )
        return services.invoice_create(
            contact_id=contact.pk,
            tax_cents=tax_cents,
            due_date=date(2030, 1, 31),
            notes="Thank you!",
            lines=[
                services.LineInput("Puppy deposit", unit_price_cents, quantity),
                services.LineInput("Vaccination", 4_550),
            ],
        )


def seller(**fields):
    defaults = dict(
        name="Maple Kennels",
        address_line1="1 Maple Lane",
        city="Portland",
        postal_code="97201",
        country="US",
        contact_email="hello@maple.test",
        phone="+1 555 0100",
    )
    return TenantFactory(**{**defaults, **fields})


def sent_emails(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("sent-*.json"))]


@pytest.fixture
def worker(start_celery_worker, tmp_path, settings):
    """A real worker whose storage is the test's MEDIA_ROOT and whose emails land in a folder."""
    outbox = tmp_path / "outbox"
    start_celery_worker(
        EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend",
        FLAKY_EMAIL_DIR=str(outbox),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    return outbox


@pytest.mark.worker
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_sent_tenant_invoice_is_rendered_by_the_worker_emailed_with_its_pdf_and_downloaded(worker):
    tenant, other = seller(), TenantFactory()
    invoice = breeder_invoice(tenant)
    owner, viewer = bearer(tenant.owner_user), bearer(member(tenant, "viewer"))
    url = f"/api/v1/invoices/{invoice.pk}/document/"
    problem(owner.get(url), 409, "invoice_not_issued")  # a draft has no document

    sent = send_json(owner, "patch", f"/api/v1/invoices/{invoice.pk}/", {"action": "send", "version": 1})
    assert sent.status_code == 200, sent.content
    response = wait_for_document(owner, url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="invoice-INV-000001.pdf"'
    content = content_of(response)
    with tenant_context(tenant.pk):
        row = InvoiceDocument.objects.get(invoice_id=invoice.pk)
    assert (response["ETag"], row.size, row.kind, row.number) == (
        f'"{row.sha256}"',
        len(content),
        "invoice",
        "INV-000001",
    )

    text = pdf_text(content)
    for expected in (
        "Invoice INV-000001",
        "Maple Kennels",
        "1 Maple Lane",
        "hello@maple.test",
        "Jamie Zoë Buyer",
        "12 Kennel Road",
        "12345 Springfield",
        "Due date: 2030-01-31",
        "Puppy deposit",
        "Vaccination",
        "1,250.00 USD",
        "2,500.00 USD",
        "45.50 USD",
        "2,545.50 USD",
        "200.00 USD",
        "2,745.50 USD",
        "Total (USD)",
        "quoting INV-000001 as the payment reference",
        "Thank you!",
    ):
        assert expected in text, expected
    assert f"Issue date: {row.created_at.date().isoformat()}" in text

    # The same bytes for every member who may read invoices; a matching ETag is a 304.
    assert content_of(viewer.get(url)) == content
    not_modified = owner.get(url, headers={"If-None-Match": response["ETag"]})
    assert (not_modified.status_code, not_modified["ETag"], not_modified.content) == (304, response["ETag"], b"")
    # Others: the invoice's own 404 (nothing says it exists), 401 without a login.
    problem(bearer(other.owner_user).get(url), 404, "not_found")
    problem(bearer(other.owner_user).get(f"/api/v1/invoices/{invoice.pk}/documents/"), 404, "not_found")
    problem(Client().get(url), 401, "not_authenticated")

    # The invoice email went out once, with this very PDF attached.
    assert wait_until(lambda: sent_emails(worker), timeout=60, interval=0.2)
    time.sleep(1)
    emails = sent_emails(worker)
    assert [e["to"] for e in emails] == [["jamie@example.test"]]
    assert emails[0]["attachments"] == [
        {"filename": "invoice-INV-000001.pdf", "mimetype": "application/pdf", "sha256": row.sha256}
    ]

    # Listed with its download address; asking to render again changes nothing.
    listed = owner.get(f"/api/v1/invoices/{invoice.pk}/documents/").json()["results"]
    assert [(d["kind"], d["number"], d["sha256"], d["url"]) for d in listed] == [
        ("invoice", "INV-000001", row.sha256, f"/api/v1/invoices/{invoice.pk}/documents/{row.pk}/")
    ]
    assert content_of(owner.get(listed[0]["url"])) == content
    assert render_invoice_document.delay(invoice_ref("tenant_invoice", invoice).as_dict()) is not None
    again, created = document_ensure(invoice_ref("tenant_invoice", invoice))
    assert (again.pk, again.sha256, created) == (row.pk, row.sha256, False)


@pytest.mark.worker
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_tenant_refund_issues_a_credit_note_pdf(worker):
    tenant = seller()
    invoice = breeder_invoice(tenant, quantity=1, unit_price_cents=10_000, tax_cents=0)
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="paid-1")
        credit_note = services.invoice_refund(
            invoice_id=invoice.pk, amount_cents=2_550, reason="vet bill", idempotency_key="refund-1"
        )
    owner = bearer(tenant.owner_user)

    def documents() -> list:
        return owner.get(f"/api/v1/invoices/{invoice.pk}/documents/").json()["results"]

    assert wait_until(lambda: len(documents()) == 2, timeout=60, interval=0.3)
    listed = documents()
    assert sorted((d["kind"], d["number"]) for d in listed) == [
        ("credit_note", credit_note.credit_note_number),
        ("invoice", "INV-000001"),
    ]
    note = next(d for d in listed if d["kind"] == "credit_note")
    response = owner.get(note["url"])
    assert response["Content-Disposition"] == f'attachment; filename="credit-note-{credit_note.credit_note_number}.pdf"'
    text = pdf_text(content_of(response))
    for expected in (
        f"Credit note {credit_note.credit_note_number}",
        "Credits invoice INV-000001",
        "25.50 USD",
        "vet bill",
        "Maple Kennels",
        "Jamie Zoë Buyer",
        "by hand",
    ):
        assert expected in text, expected


@pytest.mark.worker
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_marketplace_invoice_and_refund_pdfs_for_the_buyer_and_the_provider_only(worker):
    provider_login, provider = provider_with_login(business_name="Happy Paws Grooming", city="Austin", state="TX")
    buyer_login, buyer = person(display_name="Robin Buyer")
    invoice = marketplace_services.marketplace_invoice_create(
        transaction_id=make_transaction(provider, buyer, amount_cents=8_000).pk,
        line_items=[marketplace_services.LineItem("Full groom", 4_000, 2)],
        tax_cents=640,
    )
    buyer_client, provider_client = bearer(buyer_login), bearer(provider_login)
    url = f"/api/v1/marketplace/invoices/{invoice.pk}/document/"
    problem(buyer_client.get(url), 409, "invoice_not_issued")
    marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)

    response = wait_for_document(buyer_client, url)
    assert response.status_code == 200, response.content
    content = content_of(response)
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{invoice.number}.pdf"'
    assert content_of(provider_client.get(url)) == content
    text = pdf_text(content)
    for expected in (
        f"Invoice {invoice.number}",
        "Happy Paws Grooming",
        "Austin, TX",
        "Robin Buyer",
        "Full groom",
        "40.00 USD",
        "80.00 USD",
        "6.40 USD",
        "86.40 USD",
    ):
        assert expected in text, expected
    for outsider in (person()[0], provider_with_login()[0]):
        problem(bearer(outsider).get(url), 404, "not_found")

    marketplace_services.marketplace_invoice_mark_paid(invoice_id=invoice.pk, source="manual")
    marketplace_services.marketplace_invoice_refund(invoice_id=invoice.pk, amount_cents=1_234)
    documents = f"/api/v1/marketplace/invoices/{invoice.pk}/documents/"
    assert wait_until(lambda: len(buyer_client.get(documents).json()["results"]) >= 2, timeout=60, interval=0.3)
    listed = buyer_client.get(documents).json()["results"]
    assert [(d["kind"], d["number"]) for d in listed] == [
        ("invoice", invoice.number),
        ("credit_note", f"{invoice.number}-CN1"),
    ]
    text = pdf_text(content_of(provider_client.get(listed[1]["url"])))
    assert f"Credit note {invoice.number}-CN1" in text and "12.34 USD" in text
    assert MarketplaceInvoiceDocument.objects.using(MARKETPLACE_DB).filter(invoice_id=invoice.pk).count() == 2


@pytest.mark.slow
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_two_concurrent_task_runs_render_and_store_one_document(settings):
    tenant = seller()
    invoice = breeder_invoice(tenant)
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
    ref = invoice_ref("tenant_invoice", invoice).as_dict()
    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(render_invoice_document.apply(args=[ref]).get())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == ["already_stored", "rendered"]
    with tenant_context(tenant.pk):
        row = InvoiceDocument.objects.get()
    folder = Path(settings.MEDIA_ROOT) / f"tenants/{tenant.pk}/documents/{invoice.pk}"
    assert [path.name for path in folder.iterdir()] == [Path(row.file.name).name]


@pytest.mark.django_db(databases=DATABASES)
def test_the_email_waits_for_its_pdf_and_never_leaves_without_it(settings, tmp_path):
    tenant = seller()
    invoice = breeder_invoice(tenant)
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
    email = OutboundEmail.objects.using(TENANT_DB).get(template="invoice_sent")
    assert email.attachments == [invoice_ref("tenant_invoice", invoice).as_dict()]

    # Storage cannot take the PDF: nothing is sent, no document row, no file; the email waits.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    media = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = str(blocker / "media")
    email_send(using=TENANT_DB, pk=email.pk)
    email.refresh_from_db()
    assert (mail.outbox, email.status, email.attempts) == ([], "queued", 1)
    assert "attachment not available" in email.last_error
    with tenant_context(tenant.pk):
        assert not InvoiceDocument.objects.exists()

    # Storage back: the email's worker renders the PDF itself and sends the email with it, once.
    settings.MEDIA_ROOT = media
    email_send(using=TENANT_DB, pk=email.pk)
    email_send(using=TENANT_DB, pk=email.pk)
    email.refresh_from_db()
    assert email.status == "sent"
    assert len(mail.outbox) == 1
    with tenant_context(tenant.pk):
        row = InvoiceDocument.objects.get()
    [(filename, content, mimetype)] = mail.outbox[0].attachments
    assert (filename, mimetype) == ("invoice-INV-000001.pdf", "application/pdf")
    assert "INV-000001" in pdf_text(content)
    assert len(content) == row.size


@pytest.mark.django_db(databases=DATABASES)
def test_documents_are_immutable_and_unique_per_invoice_kind_and_version():
    from django.db import IntegrityError, ProgrammingError, transaction

    tenant = seller()
    invoice = breeder_invoice(tenant)
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
    row, _ = document_ensure(invoice_ref("tenant_invoice", invoice))
    with tenant_context(tenant.pk):
        with pytest.raises(IntegrityError), transaction.atomic():
            InvoiceDocument.objects.create(
                tenant_id=tenant.pk,
                invoice_id=invoice.pk,
                kind="invoice",
                source_id=invoice.pk,
                version=1,
                number="x",
                file="x.pdf",
                sha256="0" * 64,
                size=1,
            )
        with pytest.raises(ProgrammingError), transaction.atomic():  # append-only for the application role
            InvoiceDocument.objects.filter(pk=row.pk).update(sha256="1" * 64)
        assert InvoiceDocument.objects.get().sha256 == row.sha256


@pytest.mark.django_db(databases=DATABASES)
def test_the_list_runs_constant_queries():
    from django.test.utils import CaptureQueriesContext

    tenant = seller()
    invoice = breeder_invoice(tenant, quantity=1, unit_price_cents=10_000, tax_cents=0)
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="p")
    owner = bearer(tenant.owner_user)
    url = f"/api/v1/invoices/{invoice.pk}/documents/"

    def count() -> int:
        with CaptureQueriesContext(connections[TENANT_DB]) as queries:
            assert owner.get(url).status_code == 200
        return len(queries)

    document_ensure(invoice_ref("tenant_invoice", invoice))
    count()  # the first request also fills the per-process caches (identity, membership)
    one = count()
    for key in ("r1", "r2", "r3"):
        with tenant_context(tenant.pk):
            note = services.invoice_refund(invoice_id=invoice.pk, amount_cents=100, reason="r", idempotency_key=key)
        document_ensure(DocumentRef("tenant_invoice", tenant.pk, invoice.pk, "credit_note", note.pk))
    assert owner.get(url).json()["count"] == 4
    assert count() == one


@pytest.mark.django_db(databases=DATABASES)
def test_not_rendered_yet_is_a_409_with_retry_after_and_the_buyer_of_a_breeders_sale_reads_it():
    tenant = seller()
    invoice = breeder_invoice(tenant)
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
    owner = bearer(tenant.owner_user)
    body = problem(owner.get(f"/api/v1/invoices/{invoice.pk}/document/"), 409, "document_not_ready")
    assert body["retry_after_seconds"] == 5
    problem(owner.get(f"/api/v1/invoices/{invoice.pk}/documents/999999/"), 404, "not_found")
    problem(owner.get("/api/v1/invoices/999999/document/"), 404, "not_found")
    with tenant_context(tenant.pk):
        assert Invoice.objects.get(pk=invoice.pk).status == "sent"

    # The marketplace buyer of a breeder's sale reads the breeder's invoice PDF through the purchase.
    from tests.api.test_marketplace_endpoints import TestBuyerReceipt

    breeder, buyer_login, tx, sale_invoice = TestBuyerReceipt()._breeder_sale()
    url = f"/api/v1/marketplace/transactions/{tx.pk}/document/"
    problem(bearer(buyer_login).get(url), 409, "document_not_ready")
    row, _ = document_ensure(invoice_ref("tenant_invoice", sale_invoice))
    response = bearer(buyer_login).get(url)
    assert (response.status_code, response["ETag"]) == (200, f'"{row.sha256}"')
    assert row.number in pdf_text(response.content)
    problem(bearer(person()[0]).get(url), 404, "not_found")
