"""The words both kinds' documents share: a party's address and contact lines, the payment
instructions of each payment mode, the day a moment falls on."""

from __future__ import annotations

from django.utils import timezone

from breederhq.invoicing.pdf import DocumentLine


def party_lines(
    *,
    address: tuple[str, ...] = (),
    city: str = "",
    region: str = "",
    postal_code: str = "",
    country: str = "",
    email: str = "",
    phone: str = "",
) -> tuple[str, ...]:
    """The stored address and contact, one printed line each, empty parts left out."""
    place = " ".join(part for part in (postal_code, city) if part)
    place = ", ".join(part for part in (place, region) if part)
    lines = [*address, place, country, email, f"Phone: {phone}" if phone else ""]
    return tuple(line.strip() for line in lines if line and line.strip())


def day(moment):
    """The calendar day of a stored moment, in the platform's time zone."""
    return timezone.localtime(moment).date() if moment is not None else None


def payment_instructions(*, mode: str, seller: str, number: str, contact: str) -> str:
    """What the buyer is told about paying, by the invoice's payment mode (snapshotted when it was
    created). Manual mode stores no bank details: the buyer pays the seller directly, quotes the
    number, and sends the receipt, which the seller confirms."""
    contact_text = f" Contact {seller}: {contact}." if contact else ""
    if mode == "manual":
        return (
            f"Pay {seller} directly (bank transfer or cash), quoting {number} as the payment reference."
            f"{contact_text} Once paid, upload your payment receipt on BreederHQ (or send it to {seller}); "
            f"{seller} confirms the payment."
        )
    if mode == "stripe":
        return (
            f"Pay by card through BreederHQ: open invoice {number} in your BreederHQ account and pay "
            f"online.{contact_text}"
        )
    return f"Pay {seller} as agreed with them, quoting {number} as the payment reference.{contact_text}"


def lines_of(items) -> tuple[DocumentLine, ...]:
    return tuple(
        DocumentLine(
            description=item.description,
            quantity=item.quantity,
            unit_price_cents=item.unit_price_cents,
            total_cents=item.total_cents,
        )
        for item in items
    )
