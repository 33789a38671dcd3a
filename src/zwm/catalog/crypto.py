"""Encryption at rest for secrets (Zuora client secrets, cached OAuth tokens).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) behind a :class:`MultiFernet`:

* ``ZWM_ENCRYPTION_KEYS`` (comma-separated Fernet keys): the **first** key encrypts, every key
  decrypts. Rotation is therefore: put a new key first, keep the old ones, run
  ``zwm customer:rotate-key`` (which re-encrypts every stored secret with the first key), then
  drop the old keys.
* Without it, one key is derived from ``SECRET_KEY`` with HKDF-SHA256, so a fresh
  installation encrypts from its first minute without any setup. The derived key also stays
  a *decryption* key when explicit keys are configured, so moving from the derived key to
  explicit keys is the same rotation procedure and loses nothing.

Unlike the original application, a value that cannot be decrypted is an error, never read
back as plain text: a silent fallback would hide a wrong key and accept unencrypted rows.
Messages never contain the key or the value.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zwm.config import ConfigError, get_config

_HKDF_INFO = b"zwm catalog secrets v1"


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def derive_key(secret_key: str) -> bytes:
    """A Fernet key derived from ``SECRET_KEY`` (HKDF-SHA256, fixed salt and info)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"zwm-encryption", info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


def build_fernet(encryption_keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    """The MultiFernet for these settings: explicit keys first (the first encrypts), then the
    key derived from ``secret_key`` (decrypt-only when explicit keys exist)."""
    fernets: list[Fernet] = []
    for index, key in enumerate(encryption_keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise ConfigError(
                f"ZWM_ENCRYPTION_KEYS: key #{index} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
    fernets.append(Fernet(derive_key(secret_key)))
    return MultiFernet(fernets)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    config = get_config()
    return build_fernet(config.encryption_keys, config.secret_key)


def reset_keys() -> None:
    """Forget the cached keys (after the configuration changed, e.g. in tests)."""
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    """``plaintext`` encrypted with the current primary key, as ASCII text for a text column."""
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    """The plaintext of ``ciphertext``; :class:`SecretDecryptionError` if no key opens it."""
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretDecryptionError(
            "a stored secret cannot be decrypted with the configured keys "
            "(were ZWM_ENCRYPTION_KEYS or SECRET_KEY changed without keeping the old key?)"
        ) from None


def rotate(ciphertext: str) -> str:
    """``ciphertext`` re-encrypted with the current primary key (same plaintext)."""
    try:
        return _fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SecretDecryptionError("a stored secret cannot be decrypted with the configured keys") from None
