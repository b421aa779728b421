import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import NotFound, ValidationFailed
from breederhq.models import CrossDbReference
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Contact, Tenant, TenantMembership
from tests.factories.tenant import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def test_tenant_create_makes_the_owner_membership_and_refuses_a_taken_slug():
    owner = UserFactory()
    tenant = services.tenant_create(name="Sunny", slug="sunny", owner=owner, payment_mode="stripe")
    with tenant_context(tenant.pk):
        assert list(TenantMembership.objects.values_list("user_id", "role")) == [(owner.pk, "owner")]
    with pytest.raises(ValidationFailed) as excinfo:
        services.tenant_create(name="Other", slug="sunny", owner=owner)
    assert excinfo.value.field_errors == {"slug": ["already in use"]}
    with pytest.raises(ValidationFailed):
        services.tenant_create(name="Bad", slug="bad", owner=owner, payment_mode="bitcoin")
    assert list(Tenant.objects.values_list("slug", "marketplace_payment_mode")) == [("sunny", "stripe")]


def test_contacts_validate_names_record_their_marketplace_link_and_soft_delete():
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        with pytest.raises(ValidationFailed) as excinfo:
            services.contact_create(kind="organization", first_name="Not an org name")
        assert excinfo.value.field_errors == {"organization_name": ["an organisation needs a name"]}
        contact = services.contact_create(kind="person", first_name="Ann", marketplace_user_id=31)
        ref = CrossDbReference.objects.using(TENANT_DB).get(source_table="contacts", source_id=contact.pk)
        assert (ref.target_db, ref.target_table, ref.target_id) == (MARKETPLACE_DB, "marketplace_users", 31)
        other = services.contact_create(kind="person", last_name="Other")
        with pytest.raises(ValidationFailed) as excinfo:
            services.contact_update(contact_id=other.pk, marketplace_user_id=31)
        assert list(excinfo.value.field_errors) == ["marketplace_user_id"]
        services.contact_update(contact_id=contact.pk, phone="+1 555 0100")
        services.contact_delete(contact_id=contact.pk)
        assert list(Contact.objects.values_list("last_name", flat=True)) == ["Other"]
        assert Contact.all_objects.filter(tenant_id=tenant.pk).get(pk=contact.pk).phone == "+1 555 0100"
        with pytest.raises(NotFound):
            services.contact_update(contact_id=contact.pk, phone="x")
