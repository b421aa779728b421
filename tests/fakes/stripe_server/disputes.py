"""Disputes and the files uploaded as their evidence."""

from __future__ import annotations

import json
import time

from tests.fakes.stripe_server.wire import new_id

#: What Stripe calls a file's type, from its first bytes.
_FILE_TYPES = {b"%PDF-": "pdf", b"\x89PNG": "png", b"\xff\xd8\xff": "jpg"}
_CLOSED_DISPUTE = {"won", "lost", "warning_closed"}

#: The dispute evidence fields that name an uploaded file (the rest are text).
FILE_EVIDENCE_FIELDS = frozenset(
    {
        "cancellation_policy",
        "customer_communication",
        "customer_signature",
        "duplicate_charge_documentation",
        "receipt",
        "refund_policy",
        "service_documentation",
        "shipping_documentation",
        "uncategorized_file",
    }
)


class Disputes:
    """Dispute evidence files and disputes: a part of `FakeStripe` (server.py), on its `objects`."""

    def _create_file(self, params: dict) -> tuple[int, dict]:
        """POST /v1/files (multipart): `file` and `purpose` required, as Stripe checks them."""
        upload = (params.get("_files") or {}).get("file")
        if upload is None:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_missing",
                    "param": "file",
                    "message": "Missing required param: file.",
                }
            }
        if params.get("purpose") not in {"dispute_evidence", "identity_document", "business_logo"}:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_invalid_empty",
                    "param": "purpose",
                    "message": f"Invalid purpose: {params.get('purpose')!r}",
                }
            }
        kind = next((k for magic, k in _FILE_TYPES.items() if upload["content"].startswith(magic)), None)
        if kind is None:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "file_upload_invalid",
                    "param": "file",
                    "message": "The file type is not supported for this purpose.",
                }
            }
        obj = {
            "id": new_id("file"),
            "object": "file",
            "purpose": params["purpose"],
            "created": int(time.time()),
            "filename": upload["filename"],
            "size": len(upload["content"]),
            "type": kind,
            "url": None,
        }
        self.objects["files"][obj["id"]] = obj
        self.file_contents[obj["id"]] = upload["content"]
        return 200, obj

    def _update_dispute(self, dispute: dict, params: dict) -> tuple[int, dict]:
        """POST /v1/disputes/{id}: evidence (file fields name files uploaded for dispute evidence) and
        `submit`. A closed dispute, or one whose evidence was submitted, is a 400 as in Stripe."""
        if dispute["status"] in _CLOSED_DISPUTE or dispute["evidence_details"]["submission_count"] > 0:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "dispute_already_closed"
                    if dispute["status"] in _CLOSED_DISPUTE
                    else "dispute_not_updatable",
                    "message": f"This dispute cannot be updated because it has a status of {dispute['status']}.",
                }
            }
        evidence = params.get("evidence") or {}
        for field in FILE_EVIDENCE_FIELDS & set(evidence):
            file = self.objects["files"].get(evidence[field])
            if file is None or file["purpose"] != "dispute_evidence":
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "param": f"evidence[{field}]",
                        "message": f"No such file upload: '{evidence[field]}'",
                    }
                }
        dispute["evidence"].update(evidence)
        if params.get("submit") == "true":
            dispute["status"] = "warning_under_review" if dispute["status"].startswith("warning") else "under_review"
            dispute["evidence_details"]["submission_count"] += 1
            dispute["evidence_details"]["has_evidence"] = True
        dispute["metadata"].update(params.get("metadata") or {})
        return 200, dispute

    # --- what the buyer's bank does ----------------------------------------------------------------
    def dispute_of(
        self,
        intent_id: str,
        *,
        status: str = "needs_response",
        dispute_id: str | None = None,
        amount: int | None = None,
        due_by: int | None = None,
        reason: str = "fraudulent",
    ) -> dict:
        """The buyer's bank disputes the intent's charge (or the dispute moves to `status`): the
        dispute is kept here (retrieve, update, list) and a copy returned, as `charge.dispute.*` carry it."""
        intent = self.objects["payment_intents"][intent_id]
        dispute_id = dispute_id or new_id("dp")
        dispute = self.objects["disputes"].get(dispute_id)
        if dispute is None:
            dispute = {
                "id": dispute_id,
                "object": "dispute",
                "amount": intent["amount_received"] if amount is None else amount,
                "currency": intent["currency"],
                "charge": intent["latest_charge"],
                "payment_intent": intent_id,
                "reason": reason,
                "created": int(time.time()),
                "livemode": False,
                "is_charge_refundable": False,
                "evidence": {},
                "metadata": {},
                "evidence_details": {
                    "due_by": due_by or int(time.time()) + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
            }
            self.objects["disputes"][dispute_id] = dispute
        dispute["status"] = status
        if due_by is not None:
            dispute["evidence_details"]["due_by"] = due_by
        return json.loads(json.dumps(dispute))
