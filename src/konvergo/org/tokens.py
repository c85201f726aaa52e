"""The shape of personal API tokens."""

from __future__ import annotations

import hashlib

TOKEN_PREFIX = "kvg_"  # noqa: S105  (a marker that makes leaked tokens greppable)


def token_digest(raw_token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(raw_token.encode()).hexdigest()
