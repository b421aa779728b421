import factory
from factory.django import DjangoModelFactory

from tests.crossdb_app.marketplace_side.models import MarketplaceInvoice, Member, Transaction
from tests.crossdb_app.tenant_side.models import Contact, Invoice


class InvoiceFactory(DjangoModelFactory):
    class Meta:
        model = Invoice
        database = "default"

    total_cents = 10_000


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member
        database = "marketplace"

    email = factory.Sequence(lambda n: f"member{n}@example.test")


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact
        database = "default"

    name = factory.Sequence(lambda n: f"Contact {n}")
    marketplace_member_id = None


class MarketplaceInvoiceFactory(DjangoModelFactory):
    class Meta:
        model = MarketplaceInvoice
        database = "marketplace"


class TransactionFactory(DjangoModelFactory):
    class Meta:
        model = Transaction
        database = "marketplace"

    invoice_type = None
    invoice_id = None
