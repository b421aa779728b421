"""Optimistic locking in the API: the version a client last read, sent back with every change.

A resource that can change under a client carries an integer `version` (and `ETag: "<version>"`).
A change names the version it was based on, as `version` in the body or as `If-Match: "3"`; the
service compares it under the row lock and a stale one is `409 version_conflict` with
`current_version` (breederhq.errors.VersionConflict).
"""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter

from breederhq.errors import ValidationFailed

#: An ETag of a version: `"3"` (or weak, `W/"3"`, or bare, `3`).
IF_MATCH_PATTERN = r'^(W/)?"?([0-9]{1,18})"?$'

IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": IF_MATCH_PATTERN},
    OpenApiParameter.HEADER,
    required=False,
    description='The version last read, as its ETag ("3"); or `version` in the body.',
)


def version_etag(version: int) -> str:
    return f'"{version}"'


def expected_version_from_request(request, body_version: int | None) -> int:
    """`version` in the body, or the `If-Match` ETag; one of them is required for every change."""
    header = request.headers.get("If-Match")
    if header is not None:
        match = re.fullmatch(IF_MATCH_PATTERN, header.strip())
        if match is None:
            raise ValidationFailed(
                'If-Match must be a version ETag such as "3".', field_errors={"If-Match": ["not a version ETag"]}
            )
        header_version = int(match.group(2))
        if body_version is not None and body_version != header_version:
            raise ValidationFailed(
                "`version` and If-Match disagree.", field_errors={"version": ["differs from If-Match"]}
            )
        return header_version
    if body_version is None:
        raise ValidationFailed(
            "Send the version you last read (`version` or If-Match).",
            field_errors={"version": ["required (or If-Match)"]},
        )
    return body_version
