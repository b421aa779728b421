"""Serializers for a request's query parameters."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import Field


class QueryParams(serializers.Serializer):
    """Validates one request's query parameters (`QueryParams(data=...).is_valid(...)`).

    DRF gives every serializer instance deep copies of the declared fields, and a field's deep copy
    rebuilds it from deep copies of its constructor arguments, choices lists included: about 190 us
    for the listing search's eight fields, nearly all of its validation, on the public marketplace's
    hottest read (measured with bench/). A parameters serializer never changes those arguments, so each
    instance builds its fields from them as declared; only a nested field (a ListField's `child`)
    is rebuilt too, since binding sets its parent. Declare no mutable default (`default=[]`): it
    would be shared between requests.
    """

    def get_fields(self) -> dict[str, Field]:
        return {name: _rebuilt(field) for name, field in self._declared_fields.items()}


def _rebuilt(field: Field) -> Field:
    """A new field from the declared one's constructor arguments (nested fields rebuilt as well)."""
    args = [_rebuilt(value) if isinstance(value, Field) else value for value in field._args]
    kwargs = {key: _rebuilt(value) if isinstance(value, Field) else value for key, value in field._kwargs.items()}
    return type(field)(*args, **kwargs)


def validated(serializer_class: type[serializers.Serializer], data, *, partial: bool = False) -> dict:
    """The input `serializer_class` accepts from `data`; otherwise the 400 problem with each field's
    reasons (DRF's ValidationError, rendered by breederhq/api/problems.py)."""
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
