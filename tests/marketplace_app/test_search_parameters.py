"""The listing search validates plainly valid parameters without building the serializer's fields
(marketplace_app/api/listing_search.py `_plainly_valid`): whatever it accepts, ListingSearchParams
accepts with exactly the same result; everything else goes to the serializer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from breederhq.api.params import validated
from breederhq.money import MAX_AMOUNT_CENTS
from marketplace_app.api.listing_search import ListingSearchParams, _plainly_valid
from marketplace_app.models import ServiceListing


def by_serializer(data: dict) -> dict | None:
    try:
        return dict(validated(ListingSearchParams, data))
    except ValidationError:
        return None


def assert_same(data: dict) -> None:
    fast = _plainly_valid(data)
    assert fast is None or fast == by_serializer(data), data


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"q": "dog grooming"},
        {"q": "  Dog  ", "state": "tx", "city": " Austin ", "order": "newest"},
        {"category": ServiceListing.Category.values[0], "price_min_cents": "0", "price_max_cents": "120000"},
        {"price_max_cents": str(MAX_AMOUNT_CENTS)},
        {"metadata_keys": ["breed", " size "]},
        {"q": "x" * 200, "state": "s" * 50, "city": "c" * 100},
    ],
)
def test_plainly_valid_parameters_skip_the_serializer_with_its_result(data):
    assert _plainly_valid(data) is not None
    assert _plainly_valid(data) == by_serializer(data)


@pytest.mark.parametrize(
    "data",
    [
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 201},
        {"q": "a\x00b"},
        {"q": "a\ud800b"},
        {"state": "s" * 51},
        {"category": "nope"},
        {"order": "oldest"},
        {"price_min_cents": "-1"},
        {"price_min_cents": "1.0"},
        {"price_min_cents": " 5"},
        {"price_min_cents": "1_000"},
        {"price_max_cents": str(MAX_AMOUNT_CENTS + 1)},
        {"price_max_cents": "٣"},
        {"metadata_keys": ["ok", ""]},
        {"metadata_keys": ["k" * 51]},
    ],
)
def test_anything_else_goes_to_the_serializer(data):
    assert _plainly_valid(data) is None
    assert_same(data)


_text = st.one_of(
    st.text(max_size=210),
    st.text(alphabet=" \t\n\x00\ud800abcXYZ0123456789.-_٣", max_size=60),
    st.sampled_from(["", " ", "dog", "TX", "Austin", "relevance", "newest", *ServiceListing.Category.values]),
)
_number = st.one_of(
    st.integers(min_value=-5, max_value=MAX_AMOUNT_CENTS + 5).map(str),
    st.sampled_from(["", "0", "007", "1.0", "1.5", " 3 ", "+4", "1_000", "1e3", "٣", "9" * 20]),
    _text,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "q": _text,
            "category": _text,
            "state": _text,
            "city": _text,
            "order": _text,
            "price_min_cents": _number,
            "price_max_cents": _number,
            "metadata_keys": st.lists(_text, min_size=1, max_size=4),
        },
    )
)
def test_whatever_it_accepts_the_serializer_accepts_the_same(data):
    assert_same(data)
