"""Creating providers: a breeder needs its tenant, a service provider has none."""

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import ValidationFailed
from breederhq.models import CrossDbReference
from marketplace_app import services
from marketplace_app.models import MarketplaceUser, Provider
from tests.factories.marketplace import MarketplaceUserFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


def test_breeder_provider_links_its_tenant_and_sets_the_user_kind():
    user = MarketplaceUserFactory()
    provider = services.provider_create(
        user=user, kind="breeder", business_name="Sunny Kennels", tenant_id=31, city=" Austin ", state="tx"
    )
    assert (provider.kind, provider.tenant_id, provider.city, provider.state) == ("breeder", 31, "Austin", "TX")
    assert MarketplaceUser.objects.get(pk=user.pk).kind == "breeder"
    assert (
        CrossDbReference.objects.using(MARKETPLACE_DB)
        .filter(source_table="marketplace_providers", source_id=provider.pk, target_table="tenants", target_id=31)
        .count()
        == 1
    )


@pytest.mark.parametrize(("kind", "tenant_id"), [("breeder", None), ("service_provider", 8)])
def test_kind_and_tenant_must_agree(kind, tenant_id):
    user = MarketplaceUserFactory()
    with pytest.raises(ValidationFailed) as refused:
        services.provider_create(user=user, kind=kind, business_name="X", tenant_id=tenant_id)
    assert "tenant_id" in refused.value.field_errors
    assert Provider.all_objects.count() == 0
    assert MarketplaceUser.objects.get(pk=user.pk).kind == "buyer"


# --- version: every service write moves it; the profile edit compares it under the row lock --------


def _version(provider_id: int) -> int:
    return Provider.all_objects.using(MARKETPLACE_DB).values_list("version", flat=True).get(pk=provider_id)


def test_every_service_write_to_a_provider_moves_its_version():
    from tests.factories.marketplace import ProviderFactory, make_listing, make_transaction

    provider = ProviderFactory()
    assert _version(provider.pk) == 1
    steps = [
        lambda: services.provider_update_profile(provider_id=provider.pk, business_name="New"),
        lambda: make_listing(provider, slug="v-listing"),  # created (draft) then active: the counter moves once
        lambda: make_transaction(provider),
        lambda: services.provider_delete(provider_id=provider.pk),
        lambda: services.provider_restore(provider_id=provider.pk),
    ]
    seen = [1]
    for step in steps:
        step()
        seen.append(_version(provider.pk))
    assert seen == sorted(set(seen)), seen  # strictly increasing
    before = _version(provider.pk)
    services.provider_delete(provider_id=provider.pk)
    services.provider_delete(provider_id=provider.pk)  # already deleted: no write, no new version
    assert _version(provider.pk) == before + 1


def test_the_profile_edit_refuses_a_stale_version_and_changes_nothing():
    from breederhq.errors import VersionConflict
    from tests.factories.marketplace import ProviderFactory

    provider = ProviderFactory(business_name="Old")
    services.provider_update_profile(provider_id=provider.pk, expected_version=1, business_name="Mid")
    with pytest.raises(VersionConflict) as refused:
        services.provider_update_profile(provider_id=provider.pk, expected_version=1, business_name="Lost")
    assert (refused.value.status, refused.value.extra) == (409, {"current_version": 2})
    stored = Provider.objects.get(pk=provider.pk)
    assert (stored.business_name, stored.version) == ("Mid", 2)
    updated = services.provider_update_profile(provider_id=provider.pk, expected_version=2, state=" co ")
    assert (updated.state, updated.version) == ("CO", 3)


def test_provider_search_uses_the_stored_search_column():
    from marketplace_app.selectors import provider_list_public, provider_search
    from tests.factories.marketplace import ProviderFactory

    ProviderFactory(business_name="Grooming Palace", description="Cats")
    cats = ProviderFactory(business_name="Whiskers", description="Cat grooming")
    Provider.objects.filter(pk=cats.pk).update(description="Dog walking")  # a write outside the services
    found = provider_search(provider_list_public(), query="grooming")
    assert [p.business_name for p in found] == ["Grooming Palace"]
