"""A JSON body's value for a string field must be a JSON string.

DRF's `CharField` turns a number into its text (`63461` is stored as "63461", `63461.0` as
"63461.0"), and so do the fields built on it (`EmailField`, `SlugField`, `RegexField`, `URLField`,
`IPAddressField`); `ChoiceField` looks a number up by its text, so `1` picks the choice "1"; and
`UUIDField` reads an integer as a UUID. Our OpenAPI schema documents all of them as `type: string`,
so a client that sends a number (or `true`/`false`) is wrong, and storing what it sent as text is
how data goes bad. `install()` makes these fields refuse a value that is not a string: a 400
`validation_failed` naming the field, "Not a valid string.", before anything is written. Query
parameters and form or multipart bodies arrive as strings, so they are unaffected. A `ChoiceField`
whose choices are numbers (or mixed) keeps accepting a number that is one of them, and the numeric
fields (`IntegerField`, `DecimalField`, ...) keep accepting what they accept.

Why a hook and not strict subclasses: the API declares about 270 such fields (plain `Serializer`s,
no `ModelSerializer` whose field mapping could be changed in one place) across every app, and the
sign-in serializers of breederhq/api/auth.py are declared the same way. Strict subclasses would
mean editing every one of those declarations and then guarding against the next plain
`serializers.CharField(...)`, with no gain in behaviour: the rule is meant to hold for every string
field of the API without exception. So the rule has one home, this module, and
`breederhq/apps.py` installs it once when the app registry is ready (before any request). The
hook wraps DRF's own methods (its check first, then theirs), so everything else they do is
unchanged. A subclass that overrides `to_internal_value` without calling DRF's keeps its own rule
(`CurrencyChoiceField`, breederhq/api/currency_field.py, refuses a number as an unsupported
currency). `installed()` says whether the hook is in place, and
tests/api/bad_input/test_string_fields.py walks the served schema to prove that every write
endpoint refuses a number in each string property.
"""

from __future__ import annotations

import uuid
from enum import Enum

from rest_framework import fields
from rest_framework.exceptions import ValidationError

NOT_A_STRING = "Not a valid string."

_MARK = "_breederhq_strict"


def _refuse():
    raise ValidationError(NOT_A_STRING, code="invalid")


def _strict_char(original):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            _refuse()
        return original(self, data)

    return to_internal_value


def _a_string_choice(field, data) -> bool:
    """`data` (not a string) would pick a string choice, or names none and every choice is a string."""
    choices = field.choice_strings_to_values
    if str(data) in choices:
        return isinstance(choices[str(data)], str)
    return all(isinstance(value, str) for value in choices.values())


def _strict_choice(original):
    def to_internal_value(self, data):
        # A string choice is chosen by a string only; a field with number choices keeps accepting
        # one of them as a number. An Enum member comes from Python code, never from JSON.
        if not isinstance(data, (str, Enum)) and _a_string_choice(self, data):
            _refuse()
        return original(self, data)

    return to_internal_value


def _strict_uuid(original):
    def to_internal_value(self, data):
        if not isinstance(data, (str, uuid.UUID)):
            _refuse()
        return original(self, data)

    return to_internal_value


_WRAPPERS = (
    (fields.CharField, _strict_char),
    (fields.ChoiceField, _strict_choice),
    (fields.UUIDField, _strict_uuid),
)


def installed() -> bool:
    return all(getattr(cls.to_internal_value, _MARK, False) for cls, _ in _WRAPPERS)


def install() -> None:
    """Make DRF's string fields refuse non-strings (idempotent: installing twice wraps once)."""
    for cls, wrapper in _WRAPPERS:
        original = cls.to_internal_value
        if getattr(original, _MARK, False):
            continue
        strict = wrapper(original)
        strict.__name__, strict.__qualname__, strict.__doc__ = (
            original.__name__,
            original.__qualname__,
            original.__doc__,
        )
        setattr(strict, _MARK, True)
        cls.to_internal_value = strict
