"""Which amounts Stripe takes in which currency: decimals, minimum and maximum charges."""

from __future__ import annotations

# Stripe's currency rules, written out here from Stripe's currencies documentation on purpose (not
# imported from breederhq/currencies.py): the fake checks our amounts against Stripe's rules, not
# against our own copy of them.
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
TWO_DECIMAL = {
    "usd",
    "cad",
    "eur",
    "gbp",
    "aud",
    "nzd",
    "chf",
    "sek",
    "nok",
    "dkk",
    "pln",
    "czk",
    "ron",
    "bgn",
    "mxn",
    "brl",
    "sgd",
    "hkd",
    "inr",
    "aed",
    "myr",
    "thb",
    "huf",
    "twd",
    "isk",
    "idr",
    "php",
    "zar",
}
#: Stripe's minimum charge per currency, in the API's minor units (where Stripe names one).
MINIMUM_CHARGE = {
    "usd": 50,
    "cad": 50,
    "eur": 50,
    "aud": 50,
    "nzd": 50,
    "chf": 50,
    "gbp": 30,
    "jpy": 50,
    "huf": 17500,
    "dkk": 250,
    "sek": 300,
    "nok": 300,
    "czk": 1500,
    "mxn": 1000,
    "hkd": 400,
}
MAXIMUM_CHARGE = 99_999_999


def amount_refusal(currency: str, amount_text, *, param: str = "amount", charge: bool = True) -> dict | None:
    """Stripe's answer to an amount it will not take in `currency` (a charge's minimum and maximum
    when `charge`), or None."""
    if currency not in ZERO_DECIMAL | THREE_DECIMAL | TWO_DECIMAL:
        return {
            "param": "currency",
            "code": "parameter_invalid_string",
            "message": f"Invalid currency: {currency}. Stripe currently supports these currencies: ...",
        }
    try:
        amount = int(amount_text)
    except (TypeError, ValueError):
        return {"param": param, "code": "parameter_invalid_integer", "message": "Invalid integer: " + str(amount_text)}
    if amount < 0:
        return {
            "param": param,
            "code": "parameter_invalid_integer",
            "message": "This value must be greater than or equal to 0.",
        }
    if currency in THREE_DECIMAL and amount % 10:
        return {
            "param": param,
            "code": "invalid_charge_amount",
            "message": f"Amounts in {currency} must be rounded to the nearest ten (the last digit 0): {amount}.",
        }
    if currency == "isk" and amount % 100:
        return {
            "param": param,
            "code": "invalid_charge_amount",
            "message": f"ISK amounts must be whole krónur (divisible by 100): {amount}.",
        }
    if charge and amount < MINIMUM_CHARGE.get(currency, 1):
        return {
            "param": param,
            "code": "amount_too_small",
            "message": f"Amount must be at least {MINIMUM_CHARGE[currency]} {currency}",
        }
    if charge and amount > MAXIMUM_CHARGE:
        return {
            "param": param,
            "code": "amount_too_large",
            "message": f"Amount must be no more than {MAXIMUM_CHARGE} {currency}",
        }
    return None
