"""An invoice's timeline: its audit rows and payment-confirmation rows, oldest first, in one shape for
both kinds. Read by the API (`GET .../invoices/{id}/timeline/`) and shown in the admin."""

from __future__ import annotations

from rest_framework import serializers

from breederhq.invoicing.lifecycle import InvoiceKind


def _actor(kind: InvoiceKind, user_id, label: str) -> str:
    if user_id is not None:
        return f"{kind.actor_prefix}:{user_id}"
    return label or ""


def invoice_timeline(kind: InvoiceKind, invoice) -> list[dict]:
    """Every change and every confirmation step of `invoice`, oldest first (ties: changes first)."""
    entries = []
    for row in kind.audit_model.objects.using(kind.using).filter(invoice_id=invoice.pk).order_by("id"):
        entries.append(
            {
                "at": row.changed_at,
                "source": "change",
                "action": row.action,
                "old_status": row.old_status or None,
                "new_status": row.new_status,
                "payment_mode": row.payment_mode,
                "actor": _actor(kind, row.changed_by_id, row.actor),
                "metadata": row.metadata,
                "_order": (row.changed_at, 0, row.pk),
            }
        )
    for row in kind.confirmation_model.objects.using(kind.using).filter(invoice_id=invoice.pk).order_by("id"):
        claimant = kind.claimant_id(row)
        entries.append(
            {
                "at": row.created_at,
                "source": "payment_confirmation",
                "action": row.event,
                "old_status": None,
                "new_status": None,
                "payment_mode": row.payment_method,
                "actor": (
                    f"marketplace_user:{claimant}"
                    if claimant is not None
                    else _actor(kind, row.confirmed_by_id, row.confirmed_by_actor)
                ),
                "metadata": {**row.metadata, **({"reference": row.payment_reference} if row.payment_reference else {})},
                "_order": (row.created_at, 1, row.pk),
            }
        )
    entries.sort(key=lambda entry: entry["_order"])
    for entry in entries:
        del entry["_order"]
    return entries


class TimelineEntryOut(serializers.Serializer):
    at = serializers.DateTimeField()
    source = serializers.ChoiceField(
        choices=["change", "payment_confirmation"], help_text="An invoice change, or a step of a payment confirmation."
    )
    action = serializers.CharField(
        help_text="The change (sent, refunded, ...) or the confirmation step "
        "(buyer_marked_paid, confirmed, rejected, expired)."
    )
    old_status = serializers.CharField(allow_null=True)
    new_status = serializers.CharField(allow_null=True)
    payment_mode = serializers.CharField(allow_blank=True)
    actor = serializers.CharField(
        allow_blank=True,
        help_text='"user:ID" (tenant user), "marketplace_user:ID", "stripe", "system:...", "staff:NAME" or empty.',
    )
    metadata = serializers.DictField()
