"""Declared references are recorded with their row; referenced rows are only soft-deleted."""

import pytest

from breederhq.databases import DATABASE_ALIASES, MARKETPLACE_DB, TENANT_DB
from breederhq.errors import ReferencedRowDeletion
from breederhq.models import CrossDbReference
from marketplace_app.models import MarketplaceUser
from tenant_app.models import Tenant, User

pytestmark = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


def test_saving_a_reference_records_it_in_the_source_database():
    staff = User.objects.create(username="b@example.test", email="b@example.test")
    buyer = MarketplaceUser.objects.create(
        email="b@example.test", display_name="B", kind="breeder", tenant_user_id=staff.pk
    )
    ref = CrossDbReference.objects.using(MARKETPLACE_DB).get(source_table="marketplace_users", source_id=buyer.pk)
    assert (ref.source_column, ref.target_db, ref.target_table, ref.target_id) == (
        "tenant_user_id",
        TENANT_DB,
        "users",
        staff.pk,
    )
    assert not CrossDbReference.objects.using(TENANT_DB).exists()

    buyer.tenant_user_id = None
    buyer.save()
    assert not CrossDbReference.objects.using(MARKETPLACE_DB).exists()


def test_delete_is_soft_and_hidden_from_the_default_manager():
    tenant = Tenant.objects.create(name="Sunny", slug="sunny")
    tenant.delete()
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert Tenant.all_objects.get(pk=tenant.pk).deleted_at is not None
    Tenant.all_objects.get(pk=tenant.pk).restore()
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_queryset_delete_is_soft():
    Tenant.objects.create(name="A", slug="a")
    Tenant.objects.create(name="B", slug="b")
    Tenant.objects.all().delete()
    assert Tenant.objects.count() == 0
    assert Tenant.all_objects.count() == 2


def test_hard_delete_of_a_referenced_row_is_refused_and_names_the_referrer():
    buyer = MarketplaceUser.objects.create(email="x@example.test", display_name="X")
    # A tenant-side row pointing at the marketplace user, recorded as the tenant DB would.
    CrossDbReference.objects.using(TENANT_DB).create(
        source_table="contacts",
        source_id=7,
        source_column="marketplace_user_id",
        target_db=MARKETPLACE_DB,
        target_table="marketplace_users",
        target_id=buyer.pk,
    )
    with pytest.raises(ReferencedRowDeletion, match="default:contacts#7.marketplace_user_id"):
        buyer.hard_delete()
    assert MarketplaceUser.all_objects.filter(pk=buyer.pk).exists()
    with pytest.raises(ReferencedRowDeletion):
        MarketplaceUser.all_objects.filter(pk=buyer.pk).hard_delete()
    assert MarketplaceUser.all_objects.filter(pk=buyer.pk).exists()


def test_hard_delete_of_an_unreferenced_row_works():
    buyer = MarketplaceUser.objects.create(email="y@example.test", display_name="Y")
    buyer.hard_delete()
    assert not MarketplaceUser.all_objects.filter(pk=buyer.pk).exists()
