"""Creating providers: a breeder needs its tenant, a service provider has none."""

import pytest

from breederhq.errors import ValidationFailed
from breederhq.models import CrossDbReference
from marketplace_app import services
from marketplace_app.models import MarketplaceUser, Provider
from tests.factories.marketplace import MarketplaceUserFactory

pytestmark = pytest.mark.django_db(databases=["default", "marketplace"])


def test_breeder_provider_links_its_tenant_and_sets_the_user_kind():
    user = MarketplaceUserFactory()
    provider = services.provider_create(user=user, kind="breeder", business_name="Sunny Kennels", tenant_id=31,
                                        city=" Austin ", state="tx")
    assert (provider.kind, provider.tenant_id, provider.city, provider.state) == ("breeder", 31, "Austin", "TX")
    assert MarketplaceUser.objects.get(pk=user.pk).kind == "breeder"
    assert CrossDbReference.objects.using("marketplace").filter(
        source_table="marketplace_providers", source_id=provider.pk, target_table="tenants", target_id=31).count() == 1


@pytest.mark.parametrize(("kind", "tenant_id"), [("breeder", None), ("service_provider", 8)])
def test_kind_and_tenant_must_agree(kind, tenant_id):
    user = MarketplaceUserFactory()
    with pytest.raises(ValidationFailed) as refused:
        services.provider_create(user=user, kind=kind, business_name="X", tenant_id=tenant_id)
    assert "tenant_id" in refused.value.field_errors
    assert Provider.all_objects.count() == 0
    assert MarketplaceUser.objects.get(pk=user.pk).kind == "buyer"
