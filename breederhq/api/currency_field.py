"""The `currency` field of request bodies: one of the currencies the platform accepts
(breederhq/currencies.py), an enum in the schema (`CurrencyEnum`). Anything else is a 400 with the
problem code `unsupported_currency` naming the field, so a client can tell it from other bad input."""

from __future__ import annotations

from rest_framework import serializers

from breederhq.currencies import CURRENCIES, CURRENCY_CODES, unsupported


class CurrencyChoiceField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=CURRENCY_CODES, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and data in CURRENCIES:
            return data
        raise unsupported(self.field_name, data)
