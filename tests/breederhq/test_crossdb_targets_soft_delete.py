"""Every row the other database may point at is soft-deleted, never hard-deleted, from any surface.

The guard walks every model declared as a cross-database reference target (breederhq/crossdb.py) and
checks: its admin has no delete permission, `delete()` on an instance and on each of its managers'
querysets is overridden (a soft delete), and no foreign key of it cascades from a parent that could
be deleted for real. Then the two targets made soft-deletable last (tenant users, marketplace
invoices) are deleted through each surface and keep their rows; the other database learns through
the outbox and resolves its references as deleted.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import models
from django.test import RequestFactory

from breederhq.crossdb import models_with_references, reference_fields, resolve
from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, ReferencedRowDeletion
from breederhq.models import OutboxMessage
from marketplace_app import services as marketplace_services
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceInvoiceAuditLog,
    MarketplaceTransaction,
    MarketplaceUser,
)
from tenant_app.models import User
from tests.breederhq.conftest import relay_until_quiet
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_transaction
from tests.factories.tenant import UserFactory


def reference_targets() -> list[type[models.Model]]:
    targets = {
        target
        for model in models_with_references()
        for field in reference_fields(model)
        for target in field.target_models().values()
    }
    return sorted((t for t in targets if not t._meta.app_label.startswith("crossdb_")), key=lambda m: m._meta.label)


def test_the_targets_include_users_and_marketplace_invoices():
    assert {User, MarketplaceInvoice} <= set(reference_targets())


@pytest.mark.parametrize("model", reference_targets(), ids=lambda m: m._meta.label)
def test_a_reference_target_cannot_be_hard_deleted_from_any_surface(model):
    model_admin = admin.site._registry.get(model)
    assert model_admin is not None, f"{model._meta.label} has no admin page"
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    assert not model_admin.has_delete_permission(request), model._meta.label
    assert "delete_selected" not in model_admin.get_actions(request), model._meta.label
    assert model.delete is not models.Model.delete, f"{model._meta.label}.delete() is Django's hard delete"
    for manager in model._meta.managers:
        queryset_delete = type(manager.get_queryset()).delete
        assert queryset_delete is not models.QuerySet.delete, f"{model._meta.label}.{manager.name} hard-deletes"
    for field in model._meta.concrete_fields:
        if field.is_relation and field.remote_field.on_delete is models.CASCADE:
            parent = field.related_model
            assert parent.delete is not models.Model.delete, (
                f"{model._meta.label}.{field.name} cascades from {parent._meta.label}, which hard-deletes"
            )


pytestmark_db = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytestmark_db
class TestTenantUsers:
    def test_delete_deactivates_keeps_the_row_and_the_marketplace_resolves_it_as_deleted(self):
        user = UserFactory()
        identity = MarketplaceUserFactory(tenant_user_id=user.pk)
        assert user.delete() == (0, {})
        stored = User.objects.get(pk=user.pk)
        assert stored.deleted_at is not None and not stored.is_active and stored.tokens_valid_after is not None
        assert (
            OutboxMessage.objects.using(TENANT_DB).filter(topic="tenant.user_deleted", payload__user_id=user.pk).count()
            == 1
        )
        user.delete()  # again: nothing new
        assert OutboxMessage.objects.using(TENANT_DB).filter(topic="tenant.user_deleted").count() == 1
        relay_until_quiet()
        identity = MarketplaceUser.all_objects.using(MARKETPLACE_DB).get(pk=identity.pk)
        assert identity.deleted_at is not None and identity.tenant_user_id == user.pk
        (ref,) = resolve([identity], "tenant_user_id")
        assert ref.is_deleted and not ref.is_missing

    def test_queryset_delete_is_a_soft_delete_and_hard_delete_is_refused_while_referenced(self):
        users = [UserFactory(), UserFactory()]
        MarketplaceUserFactory(tenant_user_id=users[0].pk)
        assert User.objects.filter(pk__in=[u.pk for u in users]).delete() == 2
        assert User.objects.filter(pk__in=[u.pk for u in users], deleted_at__isnull=False).count() == 2
        with pytest.raises(ReferencedRowDeletion):
            users[0].hard_delete()
        assert User.objects.filter(pk=users[0].pk).exists()

    def test_erasure_anonymises_and_soft_deletes(self):
        from tenant_app.accounts import account_delete

        user = UserFactory()
        account_delete(user=user, password="pw-for-tests-123")
        stored = User.objects.get(pk=user.pk)
        assert (stored.email, stored.is_active) == (f"erased-{user.pk}@erased.invalid", False)
        assert stored.deleted_at is not None


@pytestmark_db
class TestMarketplaceInvoices:
    def draft(self):
        tx = make_transaction(ProviderFactory(), amount_cents=2500)
        return marketplace_services.marketplace_invoice_create(
            transaction_id=tx.pk, line_items=[marketplace_services.LineItem("Walk", 2500)]
        )

    def test_delete_is_a_soft_delete_with_audit_and_outbox_and_resolves_as_deleted(self):
        invoice = self.draft()
        invoice.delete()
        assert not MarketplaceInvoice.objects.filter(pk=invoice.pk).exists()
        stored = MarketplaceInvoice.all_objects.get(pk=invoice.pk)
        assert stored.deleted_at is not None
        assert MarketplaceInvoiceAuditLog.objects.filter(invoice_id=invoice.pk, action="deleted").count() == 1
        assert (
            OutboxMessage.objects.using(MARKETPLACE_DB)
            .filter(topic="marketplace.invoice_deleted", payload__invoice_id=invoice.pk)
            .count()
            == 1
        )
        relay_until_quiet()
        tx = MarketplaceTransaction.objects.get(pk=invoice.transaction_id)
        if tx.invoice_id == invoice.pk:
            (ref,) = resolve([tx], "invoice_id")
            assert ref.is_deleted
        MarketplaceInvoice.all_objects.filter(pk=invoice.pk).delete()  # again: nothing new
        assert MarketplaceInvoiceAuditLog.objects.filter(invoice_id=invoice.pk, action="deleted").count() == 1

    def test_an_issued_invoice_is_not_deleted_and_nothing_changes(self):
        invoice = self.draft()
        marketplace_services.marketplace_invoice_send(invoice_id=invoice.pk, expected_version=1)
        with pytest.raises(Conflict) as refused:
            MarketplaceInvoice.objects.filter(pk=invoice.pk).delete()
        assert refused.value.code == "invoice_issued"
        stored = MarketplaceInvoice.objects.get(pk=invoice.pk)
        assert (stored.deleted_at, stored.status, stored.version) == (None, "sent", 2)
        assert not OutboxMessage.objects.using(MARKETPLACE_DB).filter(topic="marketplace.invoice_deleted").exists()

    def test_hard_delete_is_refused_while_a_transaction_points_at_it(self):
        invoice = self.draft()
        tx = MarketplaceTransaction.objects.get(pk=invoice.transaction_id)
        if tx.invoice_id != invoice.pk:
            tx.invoice_type, tx.invoice_id = "marketplace", invoice.pk
            tx.save(update_fields=["invoice_type", "invoice_id"])
        with pytest.raises(ReferencedRowDeletion):
            MarketplaceInvoice.all_objects.get(pk=invoice.pk).hard_delete()
        assert MarketplaceInvoice.all_objects.filter(pk=invoice.pk).exists()
