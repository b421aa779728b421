"""Request body parsers.

The API reads JSON only (`REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]`): any other body where JSON is
documented is a 415 `unsupported_media_type`; the receipt uploads add multipart. Malformed JSON is
a 400 `malformed_request`. A string (or object key) holding a NUL character or an unpaired
surrogate escape (`\\ud800`), which PostgreSQL text and jsonb refuse, is a 400 `validation_failed`
naming the field, e.g. `lines[0].description`.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError


def storable(text: str) -> bool:
    """PostgreSQL text can hold it: no NUL, and valid UTF-8 (JSON's \\ud800 escapes decode to lone
    surrogates, which Python keeps and no database encoding accepts)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """A path as it can be shown back (escaped NUL and lone surrogates)."""
    return name.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def nul_path(data) -> str | None:
    """The path (`a.b[2].c`) of the first string in `data` (value or object key) that PostgreSQL
    cannot store, a NUL character or a lone surrogate, or None. Iterative: a deeply nested body
    cannot exhaust the stack here."""
    stack = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not storable(value):
                return _shown(path) or "non_field_errors"
        elif isinstance(value, dict):
            for key, inner in value.items():
                name = f"{path}.{key}" if path else str(key)
                if not storable(str(key)):
                    return _shown(name)
                stack.append((name, inner))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", inner) for index, inner in enumerate(value))
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        path = nul_path(data)
        if path is not None:
            raise ValidationError(
                {path: ["must not contain a NUL character (\\u0000) or an unpaired surrogate (\\ud800 to \\udfff)"]}
            )
        return data
