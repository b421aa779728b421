import factory
from factory.django import DjangoModelFactory

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from tests.crossdb_app.marketplace_side.models import MarketplaceInvoice, Member, Transaction
from tests.crossdb_app.tenant_side.models import Contact, Invoice


class InvoiceFactory(DjangoModelFactory):
    class Meta:
        model = Invoice
        database = TENANT_DB

    total_cents = 10_000


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member
        database = MARKETPLACE_DB

    email = factory.Sequence(lambda n: f"member{n}@example.test")


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact
        database = TENANT_DB

    name = factory.Sequence(lambda n: f"Contact {n}")
    marketplace_member_id = None


class MarketplaceInvoiceFactory(DjangoModelFactory):
    class Meta:
        model = MarketplaceInvoice
        database = MARKETPLACE_DB


class TransactionFactory(DjangoModelFactory):
    class Meta:
        model = Transaction
        database = MARKETPLACE_DB

    invoice_type = None
    invoice_id = None
