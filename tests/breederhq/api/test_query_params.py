"""breederhq.api.params.QueryParams: a parameters serializer validates exactly as DRF's Serializer
does, with fields of its own per instance, built without deep copies."""

from __future__ import annotations

import copy

import pytest
from rest_framework import serializers

from breederhq.api.params import QueryParams

CHOICES = [("a", "A"), ("b", "B")]


def declared(base):
    class Params(base):
        q = serializers.CharField(required=False, max_length=5)
        kind = serializers.ChoiceField(choices=CHOICES, required=False)
        low = serializers.IntegerField(required=False, min_value=0)
        keys = serializers.ListField(child=serializers.CharField(max_length=3), required=False)
        order = serializers.ChoiceField(choices=["relevance", "newest"], default="relevance")

    return Params


Plain, Cheap = declared(serializers.Serializer), declared(QueryParams)

CASES = [
    {},
    {"q": "dogs", "kind": "a", "low": "3", "keys": ["x", "yy"], "order": "newest"},
    {"q": "toolong", "kind": "z", "low": "-1", "keys": ["long!"], "order": "random"},
    {"low": "cheap", "keys": "notalist"},
]


@pytest.mark.parametrize("data", CASES)
def test_it_validates_and_refuses_exactly_as_a_plain_serializer(data):
    plain, cheap = Plain(data=copy.deepcopy(data)), Cheap(data=copy.deepcopy(data))
    assert plain.is_valid() == cheap.is_valid()
    assert plain.errors == cheap.errors
    if not plain.errors:
        assert plain.validated_data == cheap.validated_data


def test_every_instance_has_fields_of_its_own_bound_to_it_and_the_declared_ones_stay_unbound():
    first, second = Cheap(data={}), Cheap(data={})
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    assert first.fields["keys"].child is not second.fields["keys"].child
    assert first.fields["keys"].child.parent is first.fields["keys"]
    assert all(field.parent is None for field in Cheap._declared_fields.values())
    assert Cheap._declared_fields["keys"].child.parent is Cheap._declared_fields["keys"]


def test_the_listing_search_parameters_are_one():
    from marketplace_app.api.views import ListingSearchParams

    assert issubclass(ListingSearchParams, QueryParams)
