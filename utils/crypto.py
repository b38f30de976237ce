"""Encryption of secrets at rest with Fernet.

The key never lives in the database: it comes from the Odoo configuration option
``ap_sync_encryption_key`` or, when that is empty, the environment variable
``AP_SYNC_ENCRYPTION_KEY``. Several keys may be given, separated by commas, to rotate: the first
encrypts, every one decrypts (``cryptography.fernet.MultiFernet``).
"""

import binascii
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from odoo.tools import config

from ..exceptions import EncryptionKeyInvalid, EncryptionKeyMissing

CONFIG_OPTION = "ap_sync_encryption_key"
ENV_VARIABLE = "AP_SYNC_ENCRYPTION_KEY"


def _configured_keys():
    raw = config.get(CONFIG_OPTION) or os.environ.get(ENV_VARIABLE) or ""
    return [key.strip() for key in str(raw).split(",") if key.strip()]


def keys_fingerprint():
    """Changes whenever the configured keys change (for caches of decrypted values)."""
    return hashlib.sha256(",".join(_configured_keys()).encode()).hexdigest()


def has_key():
    return bool(_configured_keys())


def _fernet():
    keys = _configured_keys()
    if not keys:
        raise EncryptionKeyMissing(
            "Cannot store or read an AP Sync secret: no encryption key is configured. Set the option "
            f"'{CONFIG_OPTION}' in the Odoo configuration file (or the environment variable {ENV_VARIABLE}) "
            'to a Fernet key, e.g. the output of: python3 -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, binascii.Error, TypeError) as exc:
        raise EncryptionKeyInvalid(
            f"The option '{CONFIG_OPTION}' (or {ENV_VARIABLE}) does not hold valid Fernet keys: each key must "
            "be 32 url-safe base64-encoded bytes, several keys separated by commas."
        ) from exc


def encrypt(clear):
    """Return the Fernet token (text) of ``clear`` with the primary key."""
    return _fernet().encrypt(clear.encode()).decode()


def decrypt(token):
    """Return the clear text of a token made by :func:`encrypt` with any configured key."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyInvalid(
            f"A stored AP Sync secret cannot be decrypted with the keys in '{CONFIG_OPTION}': the key was "
            "changed without re-encrypting. Put the old key back after the new one (comma-separated), "
            "or enter the secret again."
        ) from exc


def rotate(token):
    """Re-encrypt ``token`` with the primary key (after a key rotation)."""
    return _fernet().rotate(token.encode()).decode()
