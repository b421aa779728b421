"""Emailed single-use secrets (tenant invitations, email verification, password reset): one rule.

A token is 256 random bits, URL-safe. The database keeps only its SHA-256: a token that long cannot
be guessed, so no salt or slow hash is needed, and a copy of the database holds nothing that works.
Each use locks the row that holds the hash, checks it is still open and unexpired, and closes it in
the same transaction, so a token works once even under simultaneous requests.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret_token() -> tuple[str, str]:
    """(token for the email, hash for the database)."""
    token = secrets.token_urlsafe(32)
    return token, secret_token_hash(token)


def secret_token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()
