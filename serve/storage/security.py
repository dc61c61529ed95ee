"""Password hashing and API key tokens (no database access here; see ``credentials.py``).

Passwords use argon2id (RFC 9106), slow on purpose. API keys are 256-bit random tokens, so a single
SHA-256 is enough to store them safely (no dictionary can guess one) and costs a scanner's request
microseconds instead of the tens of milliseconds a password hash would add to the latency budget.

A key looks like ``qsk_<prefix>_<secret>``: the prefix is stored in clear to find the row, the whole
token only as a hash.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_SCHEME = "qsk"
PREFIX_LENGTH = 12
MIN_PASSWORD_LENGTH = 10
_PREFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: keys get read aloud and retyped

# OWASP's argon2id setting (19 MiB, 2 passes, 1 lane) rather than argon2-cffi's heavier default: the
# server has two cores that inference needs, and a burst of logins must not starve it.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    # A hash of a password nobody has, verified against when the user does not exist, so that the answer
    # time does not tell an attacker which user names are real. Made on first use, not at import.
    return _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters are stored in the string)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; None (no such user) costs the same time and fails."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):  # a mismatch is a VerificationError
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash uses weaker parameters than today's (rehash it at the next login)."""
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: show ``token`` once, store ``prefix`` and ``key_hash``."""

    token: str
    prefix: str
    key_hash: str


def hash_api_key(token: str) -> str:
    """The stored form of an API key token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_api_key() -> NewApiKey:
    """A new random API key with its lookup prefix and hash."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    token = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(token=token, prefix=prefix, key_hash=hash_api_key(token))


def api_key_prefix(token: str) -> str | None:
    """The lookup prefix of a presented token, or None if it is not shaped like a quayscan key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != PREFIX_LENGTH or len(parts[2]) < 32:
        return None
    return parts[1]


def verify_api_key(token: str, key_hash: str) -> bool:
    """Whether ``token`` hashes to ``key_hash``, compared in constant time."""
    return hmac.compare_digest(hash_api_key(token), key_hash)
