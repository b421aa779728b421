"""The marketplace demo rows load, and loading twice changes nothing."""

import pytest

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from demo.data import load_demo_data, load_marketplace_demo_data
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceTransaction,
    MarketplaceUser,
    Message,
    MessageThread,
    Provider,
    ServiceListing,
    ServiceListingImage,
)
from marketplace_app.selectors import provider_stats_drift
from tenant_app.models import User

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

MODELS = (
    MarketplaceUser,
    Provider,
    ServiceListing,
    ServiceListingImage,
    MessageThread,
    Message,
    MarketplaceTransaction,
    MarketplaceInvoice,
)


def counts():
    return {model.__name__: model._base_manager.count() for model in MODELS}


def test_marketplace_demo_data_is_idempotent():
    logins = load_marketplace_demo_data()
    first = counts()
    assert first == {
        "MarketplaceUser": 2,
        "Provider": 1,
        "ServiceListing": 2,
        "ServiceListingImage": 3,
        "MessageThread": 1,
        "Message": 3,
        "MarketplaceTransaction": 1,
        "MarketplaceInvoice": 1,
    }
    assert load_marketplace_demo_data() == logins
    assert counts() == first
    buyer = MarketplaceUser.objects.get(email="buyer@breederhq.test")
    login = User.objects.get(email="buyer@breederhq.test")
    assert buyer.tenant_user_id == login.pk and login.check_password("demo-password-123")
    assert MarketplaceTransaction.objects.get().status == "paid"
    assert provider_stats_drift() == []
    assert Provider.objects.values_list("total_listings", "total_transactions", "total_revenue_cents").get() == (
        2,
        1,
        6500,
    )


def test_load_demo_data_includes_the_marketplace_logins():
    emails = [email for email, _what in load_demo_data()]
    assert emails == [
        "admin@breederhq.test",
        "owner@sunny-kennels.test",
        "buyer@breederhq.test",
        "groomer@breederhq.test",
    ]
