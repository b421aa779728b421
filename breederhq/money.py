"""Money is an integer count of minor units (BIGINT) plus an ISO 4217 currency code. Never floats.

What a currency is (its minor unit, the step its amounts keep, Stripe's limits, how it is shown)
lives in breederhq/currencies.py; this module holds the bounds every amount obeys whatever its
currency. Percentages are computed in integers or Decimal, never floats (`percent_of`; the
platform's fee: `breederhq.currencies.fee_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.validators import RegexValidator
from django.db import models

from breederhq.currencies import CURRENCY_CODES, format_amount, step_problem
from breederhq.errors import ValidationFailed

#: The currencies the platform accepts (breederhq/currencies.py has their facts).
SUPPORTED_CURRENCIES = CURRENCY_CODES

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


#: PostgreSQL BIGINT's largest value: no stored amount may pass it.
BIGINT_MAX = 2**63 - 1
#: The largest amount, in minor units, of any one money value the platform accepts or computes: a unit
#: price, a line total, a tax, an invoice total, a listing price, a refund (10^13 cents: 100 billion
#: dollars). Far below BIGINT (about 9.2 * 10^18), so a sum of a few such values cannot overflow either.
MAX_AMOUNT_CENTS = 10**13
#: The largest quantity on one invoice line.
MAX_QUANTITY = 10**6
#: The most lines one invoice may have.
MAX_LINES = 500

#: Said in the API schema where the bounds apply to a computed value rather than one field.
LINE_TOTAL_HELP = (
    f"unit_price_cents x quantity may be at most {MAX_AMOUNT_CENTS} (the largest line total); "
    "more is a 400 naming the line."
)
INVOICE_TOTAL_HELP = (
    f"At most {MAX_LINES} lines; the lines' sum plus tax_cents may be at most {MAX_AMOUNT_CENTS} "
    "(the largest invoice total); more is a 400 naming the field."
)


def amount_problem(value, *, allow_zero: bool = True, currency: str | None = None) -> str | None:
    """Why `value` is not an acceptable amount in minor units (of `currency`, when named: its step,
    such as a three-decimal amount ending in 0), or None when it is."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "must be a whole number of minor units"
    low = 0 if allow_zero else 1
    if value < low:
        return f"must be at least {low}"
    if value > MAX_AMOUNT_CENTS:
        return f"{value} is over the largest amount, {MAX_AMOUNT_CENTS}"
    return step_problem(currency, value) if currency else None


def check_amount(field: str, value, *, allow_zero: bool = True, currency: str | None = None) -> int:
    """`value` if it is an acceptable amount (in `currency`, when named), else ValidationFailed
    (400) naming `field`."""
    problem = amount_problem(value, allow_zero=allow_zero, currency=currency)
    if problem is not None:
        raise ValidationFailed(f"{field}: {problem}.", field_errors={field: [problem]})
    return value


def check_lines(lines, *, field: str = "lines", tax_cents: int = 0, currency: str | None = None) -> int:
    """Validate invoice lines (objects with `unit_price_cents`, `quantity`) against the money bounds
    and return their subtotal. Each unit price, each line total (price x quantity), the subtotal and
    subtotal + tax stay within MAX_AMOUNT_CENTS; with `currency`, each unit price and the tax keep
    its step too. ValidationFailed names the offending field."""
    errors: dict[str, list[str]] = {}
    if currency and (problem := amount_problem(tax_cents, currency=currency)):
        errors["tax_cents"] = [problem]
    if len(lines) > MAX_LINES:
        errors[field] = [f"at most {MAX_LINES} lines"]
    subtotal = 0
    for index, line in enumerate(lines):
        price, quantity = line.unit_price_cents, line.quantity
        problem = amount_problem(price, currency=currency)
        if problem is not None:
            errors[f"{field}[{index}].unit_price_cents"] = [problem]
            continue
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
            errors[f"{field}[{index}].quantity"] = [f"must be a whole number from 1 to {MAX_QUANTITY}"]
            continue
        total = price * quantity
        if total > MAX_AMOUNT_CENTS:
            errors[f"{field}[{index}].quantity"] = [
                f"unit_price_cents x quantity = {total} is over the largest line total, {MAX_AMOUNT_CENTS}"
            ]
            continue
        subtotal += total
    if not errors and subtotal > MAX_AMOUNT_CENTS:
        errors[field] = [f"the lines add up to {subtotal}, over the largest invoice total, {MAX_AMOUNT_CENTS}"]
    if not errors and subtotal + tax_cents > MAX_AMOUNT_CENTS:
        errors["tax_cents"] = [
            f"subtotal + tax = {subtotal + tax_cents} is over the largest invoice total, {MAX_AMOUNT_CENTS}"
        ]
    if errors:
        raise ValidationFailed("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), field_errors=errors)
    return subtotal


def amount_bound_check(*fields: str, name: str) -> models.CheckConstraint:
    """The database's own copy of the bound: each field at most MAX_AMOUNT_CENTS."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__lte": MAX_AMOUNT_CENTS for field in fields}), name=name
    )


def add_amount_bound_not_valid(model_name: str, table: str, constraint: models.CheckConstraint):
    """A migration operation adding `constraint` (from amount_bound_check) as NOT VALID: checked for
    every row written from now on, without scanning (and locking) the rows already there."""
    from django.db import migrations

    fields = [key.removesuffix("__lte") for key, _ in constraint.condition.children]
    condition = " AND ".join(f'"{field}" <= {MAX_AMOUNT_CENTS}' for field in fields)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddConstraint(model_name, constraint)],
        database_operations=[
            migrations.RunSQL(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint.name}" CHECK ({condition}) NOT VALID',
                reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint.name}"',
            )
        ],
    )


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
        """For people: the currency's own decimals (breederhq.currencies.format_amount)."""
        return format_amount(self.cents, self.currency)

    __str__ = format
