"""How a dispute reads in the seller's and the buyer's dispute endpoints. The summary an invoice
detail carries is the core's (breederhq/api/disputes.py); these add the evidence files."""

from __future__ import annotations

from rest_framework import serializers

from breederhq.api.disputes import DisputeSummaryOut


class DisputeFileOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Name it in the evidence's `files`.")
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class DisputeOut(DisputeSummaryOut):
    evidence_files = DisputeFileOut(many=True, help_text="The seller's uploaded files (empty for the buyer).")
