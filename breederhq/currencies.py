"""Currencies as the platform (and Stripe, which collects card payments) defines them: one home.

Every amount on the platform is an integer count of the currency's *minor unit*, and that minor unit
is the one Stripe's API counts in, so an amount goes to Stripe, comes back in a webhook and is
stored without any conversion. Where Stripe's unit differs from ISO 4217 Stripe's wins, because a
wrong exponent moves real money by a factor of 100:

* zero-decimal currencies (JPY, KRW, ...): the amount is whole yen, won, ... (MGA too, whose ISO
  exponent is 2);
* three-decimal currencies (BHD, JOD, KWD, OMR, TND): thousandths, and Stripe takes only amounts
  whose last digit is 0 (a multiple of 10), so that is our rule for every amount in them;
* ISK: Stripe made it zero-decimal but keeps the two-decimal form for compatibility: amounts are
  hundredths that must be whole krónur (a multiple of 100); shown without decimals;
* HUF and TWD are charged with two decimals (Stripe pays them out in whole units, which concerns
  payouts only, made by Stripe on the connected accounts' schedule, never by us).

`CURRENCIES` is the whole list of what we accept; anything else is refused with the problem code
`unsupported_currency`. Rounding of a percentage (our application fee) goes through `fee_of`:
integers only, half up, to a multiple of the currency's step. Formatting for people goes through
`format_amount`. docs/architecture/invoices-and-payments.md ("Currencies") explains the choices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from breederhq.errors import ValidationFailed

#: Stripe's largest charge: eight digits of the minor unit for the currencies we accept.
STRIPE_MAX_CHARGE = 99_999_999


@dataclass(frozen=True)
class Currency:
    code: str
    #: Digits of the minor unit our amounts (and Stripe's API amounts) count.
    exponent: int
    #: Digits shown to people (ISK: 0, though its amounts count hundredths).
    display_exponent: int
    #: Every amount is a multiple of this: 10 for three-decimal currencies, 100 for ISK, else 1.
    step: int = 1
    #: Stripe's smallest charge in minor units, where Stripe names one for the currency itself;
    #: None: Stripe's minimum is the equivalent of 0.50 USD at the day's rate, which only Stripe knows.
    min_charge: int | None = None
    max_charge: int = STRIPE_MAX_CHARGE


def _two(code: str, minimum: int | None = None) -> Currency:
    return Currency(code, 2, 2, 1, minimum)


def _zero(code: str, minimum: int | None = None) -> Currency:
    return Currency(code, 0, 0, 1, minimum)


def _three(code: str) -> Currency:
    return Currency(code, 3, 3, 10)


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        # Two-decimal; minimums from Stripe's table of minimum charge amounts.
        _two("USD", 50),
        _two("CAD", 50),
        _two("EUR", 50),
        _two("GBP", 30),
        _two("AUD", 50),
        _two("NZD", 50),
        _two("CHF", 50),
        _two("SEK", 300),
        _two("NOK", 300),
        _two("DKK", 250),
        _two("PLN", 200),
        _two("CZK", 1500),
        _two("RON", 200),
        _two("BGN", 100),
        _two("MXN", 1000),
        _two("BRL", 50),
        _two("SGD", 50),
        _two("HKD", 400),
        _two("INR", 50),
        _two("AED", 200),
        _two("MYR", 200),
        _two("THB", 1000),
        # Stripe's special cases.
        _two("HUF", 17500),
        _two("TWD"),
        Currency("ISK", 2, 0, 100),
        # Zero-decimal (Stripe's list).
        _zero("JPY", 50),
        *(
            _zero(code)
            for code in (
                "BIF",
                "CLP",
                "DJF",
                "GNF",
                "KMF",
                "KRW",
                "MGA",
                "PYG",
                "RWF",
                "UGX",
                "VND",
                "VUV",
                "XAF",
                "XOF",
                "XPF",
            )
        ),
        # Three-decimal (Stripe's list): amounts end in 0.
        *(_three(code) for code in ("BHD", "JOD", "KWD", "OMR", "TND")),
    )
}

#: The codes a request may name, sorted (one enum in the API schema, `CurrencyEnum`).
CURRENCY_CODES: tuple[str, ...] = tuple(sorted(CURRENCIES))


def unsupported(field: str, code) -> ValidationFailed:
    shown = repr(code)[:20]
    return ValidationFailed(
        f"{field}: {shown} is not a currency we accept (ISO 4217 codes Stripe charges in; see CurrencyEnum).",
        code="unsupported_currency",
        field_errors={field: [f"{shown} is not a supported currency"]},
    )


def currency(code: str, *, field: str = "currency") -> Currency:
    """The facts of `code`, or ValidationFailed (400, `unsupported_currency`) naming `field`."""
    facts = CURRENCIES.get(code) if isinstance(code, str) else None
    if facts is None:
        raise unsupported(field, code)
    return facts


def step_problem(code: str, amount: int) -> str | None:
    """Why `amount` cannot be an amount in `code` (its step), or None. The bounds are breederhq.money's."""
    step = CURRENCIES[code].step if code in CURRENCIES else 1
    if step > 1 and amount % step:
        return f"{amount} is not a multiple of {step}: {code} amounts " + (
            "end in 0 (Stripe's three-decimal rule)" if step == 10 else f"are whole units ({step} minor units)"
        )
    return None


def check_step(code: str, amounts: dict[str, int]) -> None:
    """ValidationFailed (400 `validation_failed`) naming each field whose amount breaks `code`'s step."""
    errors = {field: [problem] for field, amount in amounts.items() if (problem := step_problem(code, amount))}
    if errors:
        raise ValidationFailed("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), field_errors=errors)


def check_stripe_charge(code: str, amount: int, *, field: str = "total_cents") -> None:
    """Whether Stripe can charge `amount` in `code` (its minimum and maximum): 400 with the code
    `amount_below_stripe_minimum` / `amount_over_stripe_maximum` otherwise, naming `field`."""
    facts = currency(code)
    if facts.min_charge is not None and amount < facts.min_charge:
        raise ValidationFailed(
            f"{field}: Stripe's smallest {code} charge is {format_amount(facts.min_charge, code)}; "
            f"this is {format_amount(amount, code)}.",
            code="amount_below_stripe_minimum",
            field_errors={field: [f"at least {facts.min_charge} for a card payment in {code}"]},
            extra={"min_amount": facts.min_charge},
        )
    if amount > facts.max_charge:
        raise ValidationFailed(
            f"{field}: Stripe's largest {code} charge is {format_amount(facts.max_charge, code)}; "
            f"this is {format_amount(amount, code)}. Split it, or collect it manually.",
            code="amount_over_stripe_maximum",
            field_errors={field: [f"at most {facts.max_charge} for a card payment in {code}"]},
            extra={"max_amount": facts.max_charge},
        )


def fee_of(amount: int, basis_points: int, code: str) -> int:
    """`basis_points` / 10,000 of `amount`, in integers: rounded half up to a multiple of the
    currency's step (a three-decimal fee ends in 0 as Stripe requires). 0 <= result <= amount for
    an amount that is itself a multiple of the step and 0 <= basis_points <= 10,000."""
    step = CURRENCIES[code].step if code in CURRENCIES else 1
    whole, rest = divmod(amount * basis_points, 10_000 * step)
    if 2 * rest >= 10_000 * step:
        whole += 1
    return whole * step


def to_units(amount: int, code: str) -> str:
    """An amount as a plain decimal string in the currency's shown unit: 1234 USD -> '12.34',
    1234 JPY -> '1234', 12340 KWD -> '12.340', 50000 ISK -> '500'. Exact (integers only)."""
    return _units(amount, currency(code))


def _units(amount: int, facts: Currency) -> str:
    shift = 10 ** (facts.exponent - facts.display_exponent)  # ISK: its hundredths are always 00
    sign, value = ("-" if amount < 0 else ""), abs(amount) // shift
    if facts.display_exponent == 0:
        return f"{sign}{value}"
    digits = str(value).rjust(facts.display_exponent + 1, "0")
    return f"{sign}{digits[: -facts.display_exponent]}.{digits[-facts.display_exponent :]}"


_UNITS = re.compile(r"^(-?)([0-9]{1,20})(?:\.([0-9]{1,6}))?$")


def from_units(text: str, code: str) -> int:
    """The inverse of `to_units`: '12.34' USD -> 1234. More decimals than the currency shows, or a
    value off the currency's step, is a ValueError (never rounded silently)."""
    facts = currency(code)
    match = _UNITS.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a decimal amount")
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if len(fraction) > facts.display_exponent:
        raise ValueError(f"{code} shows {facts.display_exponent} decimals; {text!r} has {len(fraction)}")
    amount = int(whole + fraction.ljust(facts.exponent, "0")[: facts.exponent]) if facts.exponent else int(whole)
    amount = -amount if sign else amount
    if step_problem(code, amount):
        raise ValueError(step_problem(code, amount))
    return amount


def format_amount(amount: int, code: str) -> str:
    """For people (emails, admin): thousands separated, the currency's own decimals, then the code:
    '1,234.56 USD', '1,234 JPY', '12.340 KWD', '500 ISK'. A code we do not know shows two decimals."""
    text = _units(amount, CURRENCIES.get(code) or Currency(code, 2, 2))
    sign, (whole, dot, fraction) = ("-" if amount < 0 else ""), text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction} {code}"
