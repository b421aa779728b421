"""The disputes port: "this invoice's latest dispute", for whoever shows an invoice, without
importing payments_app (docs/architecture/layers.md).

Disputes (chargebacks) are payments_app's: it registers its reader in its AppConfig.ready()
(payments_app/disputes.py, `latest_dispute_summary`). The reader takes the invoice's kind ("tenant",
"marketplace": the keys of `breederhq.invoicing.lifecycle.INVOICE_KINDS`), its id and its tenant (None
for a marketplace invoice), and answers the dispute's summary as a dict (the fields of
`breederhq.api.disputes.DisputeSummaryOut`) or None. With no reader registered (payments not
installed) an invoice has no dispute.
"""

from __future__ import annotations

from collections.abc import Callable

DisputeReader = Callable[..., "dict | None"]

_reader: DisputeReader | None = None


def register(reader: DisputeReader) -> None:
    """Called once per process by the payments app's ready()."""
    global _reader
    _reader = reader


def latest_dispute(*, invoice_kind: str, invoice_id: int, tenant_id: int | None) -> dict | None:
    """The summary of the invoice's latest dispute, or None (one query in payments_app's reader)."""
    if _reader is None:
        return None
    return _reader(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
