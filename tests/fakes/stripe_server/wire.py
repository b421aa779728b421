"""Ids and request bodies as Stripe writes them: `prefix_...` ids, nested form fields, multipart uploads."""

from __future__ import annotations

import email.parser
import email.policy
import itertools

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):08d}"


def _nested_form(pairs: dict[str, list[str]]) -> dict:
    """Stripe form encoding (`metadata[invoice]=5`, `lines[0][amount]=1`) back to a nested dict."""
    result: dict = {}
    for raw_key, values in pairs.items():
        parts = raw_key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = values[-1]
    return result


def _multipart(raw: bytes, content_type: str) -> tuple[dict, dict[str, dict]]:
    """A multipart/form-data body (the SDK's file uploads) as (fields, files): files by field name,
    each {"filename", "content"}."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict = {}
    files: dict[str, dict] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = {"filename": part.get_filename(), "content": content}
        else:
            fields[name] = content.decode()
    return fields, files
