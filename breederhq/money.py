"""Money is an integer count of minor units (BIGINT) plus an ISO 4217 currency code. Never floats.

Percentages (tax, fees) are computed in Decimal and quantised in one place, `percent_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.validators import RegexValidator
from django.db import models

#: Digits after the decimal point for currencies that are not the usual two.
MINOR_UNIT_EXPONENT = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3}
SUPPORTED_CURRENCIES = ("USD", "CAD", "EUR", "GBP", "AUD", "NZD")

currency_code_validator = RegexValidator(r"^[A-Z]{3}$", "Currency must be a 3-letter ISO 4217 code.")


def CurrencyField(**kwargs) -> models.CharField:  # noqa: N802 - reads like a field class
    kwargs.setdefault("max_length", 3)
    kwargs.setdefault("default", "USD")
    kwargs.setdefault("validators", [currency_code_validator])
    return models.CharField(**kwargs)


def CentsField(**kwargs) -> models.BigIntegerField:  # noqa: N802
    """An amount in minor units. BIGINT: INT overflows at about 21 million dollars."""
    kwargs.setdefault("default", 0)
    return models.BigIntegerField(**kwargs)


def currency_check(field: str = "currency", *, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=models.Q(**{f"{field}__regex": r"^[A-Z]{3}$"}), name=name)


def percent_of(amount_cents: int, percent: Decimal | str) -> int:
    """`percent` % of an amount, rounded half to even to whole minor units."""
    result = Decimal(amount_cents) * Decimal(percent) / Decimal(100)
    return int(result.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Money:
    cents: int
    currency: str

    def __post_init__(self):
        if not isinstance(self.cents, int) or isinstance(self.cents, bool):
            raise TypeError("Money.cents must be an int (minor units), never a float")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.cents - other.cents, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def format(self) -> str:
        exponent = MINOR_UNIT_EXPONENT.get(self.currency, 2)
        value = Decimal(self.cents).scaleb(-exponent)
        return f"{value:,.{exponent}f} {self.currency}"

    __str__ = format
