"""breederhq/currencies.py: the currency facts (Stripe's lists), fee rounding, minor-unit conversion
and formatting, and the amount limits, as properties over many amounts and every currency."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from breederhq.currencies import (
    CURRENCIES,
    CURRENCY_CODES,
    STRIPE_MAX_CHARGE,
    check_stripe_charge,
    currency,
    fee_of,
    format_amount,
    from_units,
    to_units,
)
from breederhq.errors import ValidationFailed
from breederhq.money import MAX_AMOUNT_CENTS, Money, amount_problem, check_lines
from payments_app.providers import PLATFORM_FEE_BPS, application_fee_cents

codes = st.sampled_from(CURRENCY_CODES)


@st.composite
def amounts(draw, *, top: int = MAX_AMOUNT_CENTS):
    """A currency and an amount in it that keeps its step."""
    code = draw(codes)
    step = CURRENCIES[code].step
    return code, draw(st.integers(min_value=0, max_value=top // step)) * step


class TestStripesLists:
    def test_zero_and_three_decimal_currencies_are_stripes(self):
        zero = {c for c, f in CURRENCIES.items() if f.exponent == 0}
        three = {c for c, f in CURRENCIES.items() if f.exponent == 3}
        assert zero == {
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "JPY",
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
        }
        assert three == {"BHD", "JOD", "KWD", "OMR", "TND"}
        assert all(CURRENCIES[c].step == 10 for c in three)

    def test_stripes_special_cases(self):
        # ISK: two-decimal amounts in the API, whole krónur only, shown without decimals.
        assert (CURRENCIES["ISK"].exponent, CURRENCIES["ISK"].step, CURRENCIES["ISK"].display_exponent) == (2, 100, 0)
        # HUF and TWD are charged with two decimals (their whole-unit rule is Stripe's payouts').
        assert [(CURRENCIES[c].exponent, CURRENCIES[c].step) for c in ("HUF", "TWD")] == [(2, 1), (2, 1)]
        assert (CURRENCIES["JPY"].min_charge, CURRENCIES["USD"].min_charge, CURRENCIES["GBP"].min_charge) == (
            50,
            50,
            30,
        )

    @pytest.mark.parametrize("code", ["XYZ", "usd", "", "JP", "JPYY", None, 5, "US\x00"])
    def test_anything_else_is_refused_with_its_own_code(self, code):
        with pytest.raises(ValidationFailed) as refused:
            currency(code)
        assert refused.value.code == "unsupported_currency"
        assert list(refused.value.field_errors) == ["currency"]


class TestFees:
    @given(amounts(), st.integers(min_value=0, max_value=10_000))
    def test_a_fee_is_between_zero_and_the_amount_keeps_the_step_and_is_the_nearest(self, money, bps):
        code, amount = money
        fee = fee_of(amount, bps, code)
        step = CURRENCIES[code].step
        assert 0 <= fee <= amount
        assert fee % step == 0
        # The nearest multiple of the step to the exact fee, halves up (checked with exact fractions).
        exact = Decimal(amount) * bps / 10_000 / step
        assert fee == int(exact.quantize(Decimal(1), ROUND_HALF_UP)) * step
        assert fee == fee_of(amount, bps, code)  # deterministic
        assert (amount - fee) + fee == amount and amount - fee >= 0  # the transfer is what is left

    @given(amounts(), amounts())
    def test_fees_grow_with_the_amount(self, first, second):
        code = first[0]
        step = CURRENCIES[code].step
        low, high = sorted([first[1] // step * step, second[1] // step * step])
        assert fee_of(low, PLATFORM_FEE_BPS, code) <= fee_of(high, PLATFORM_FEE_BPS, code)

    @given(amounts(top=STRIPE_MAX_CHARGE))
    def test_the_application_fee_is_the_platform_share(self, money):
        code, amount = money
        assert application_fee_cents(amount, code) == fee_of(amount, PLATFORM_FEE_BPS, code)

    def test_examples(self):
        assert [fee_of(a, 500, "USD") for a in (0, 9, 10, 11, 12_345)] == [0, 0, 1, 1, 617]
        assert [fee_of(a, 500, "JPY") for a in (50, 1_000, 1_010)] == [3, 50, 51]  # 2.5 and 50.5 round up
        assert [fee_of(a, 500, "KWD") for a in (10, 100, 12_340, 12_300)] == [0, 10, 620, 620]


class TestConversionAndFormatting:
    @given(amounts())
    def test_units_round_trip(self, money):
        code, amount = money
        text = to_units(amount, code)
        assert from_units(text, code) == amount
        decimals = text.partition(".")[2]
        assert len(decimals) == CURRENCIES[code].display_exponent

    @given(amounts())
    def test_formatting_shows_the_currencys_own_decimals(self, money):
        code, amount = money
        shown = format_amount(amount, code)
        number, shown_code = shown.split(" ")
        assert shown_code == code
        assert from_units(number.replace(",", ""), code) == amount
        assert Money(amount, code).format() == shown

    def test_examples(self):
        assert [
            format_amount(a, c)
            for a, c in [(123_456, "USD"), (1_500, "JPY"), (12_340, "KWD"), (50_000, "ISK"), (7, "BHD"), (-250, "EUR")]
        ] == ["1,234.56 USD", "1,500 JPY", "12.340 KWD", "500 ISK", "0.007 BHD", "-2.50 EUR"]

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("1.5", "JPY"),
            ("1.2345", "KWD"),
            ("1.235", "KWD"),
            ("1.001", "USD"),
            ("5.5", "ISK"),
            ("1e3", "USD"),
            ("", "USD"),
            ("١٢", "USD"),
        ],
    )
    def test_never_rounded_silently(self, text, code):
        with pytest.raises(ValueError):
            from_units(text, code)


class TestLimits:
    @given(codes, st.integers(min_value=-(2**70), max_value=2**70))
    def test_an_amount_is_accepted_only_within_the_bounds_and_on_the_step(self, code, amount):
        problem = amount_problem(amount, currency=code)
        ok = 0 <= amount <= MAX_AMOUNT_CENTS and amount % CURRENCIES[code].step == 0
        assert (problem is None) == ok

    @given(codes, st.integers(min_value=0, max_value=MAX_AMOUNT_CENTS))
    def test_a_card_charge_is_within_stripes_minimum_and_maximum(self, code, amount):
        facts = CURRENCIES[code]
        inside = amount <= facts.max_charge and amount >= (facts.min_charge or 0)
        try:
            check_stripe_charge(code, amount)
        except ValidationFailed as refused:
            assert not inside
            assert refused.code == (
                "amount_over_stripe_maximum" if amount > facts.max_charge else "amount_below_stripe_minimum"
            )
        else:
            assert inside

    def test_three_decimal_lines_and_tax_end_in_zero(self):
        class Line:
            def __init__(self, price):
                self.unit_price_cents, self.quantity = price, 2

        assert check_lines([Line(1_230)], tax_cents=10, currency="KWD") == 2_460
        with pytest.raises(ValidationFailed) as refused:
            check_lines([Line(1_235)], tax_cents=5, currency="KWD")
        assert set(refused.value.field_errors) == {"lines[0].unit_price_cents", "tax_cents"}
        assert check_lines([Line(1_235)], tax_cents=5, currency="JPY") == 2_470
