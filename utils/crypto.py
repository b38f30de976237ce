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


def _fernet(env):
    keys = _configured_keys()
    if not keys:
        raise EncryptionKeyMissing(
            env._(
                "Cannot store or read an AP Sync secret: no encryption key is configured. Set the option "
                "'%(option)s' in the Odoo configuration file (or the environment variable %(variable)s) "
                "to a Fernet key, e.g. the output of: %(command)s",
                option=CONFIG_OPTION,
                variable=ENV_VARIABLE,
                command='python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"',
            )
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, binascii.Error, TypeError) as exc:
        raise EncryptionKeyInvalid(
            env._(
                "The option '%(option)s' (or %(variable)s) does not hold valid Fernet keys: each key must "
                "be 32 url-safe base64-encoded bytes, several keys separated by commas.",
                option=CONFIG_OPTION,
                variable=ENV_VARIABLE,
            )
        ) from exc


def encrypt(clear, env):
    """Return the Fernet token (text) of ``clear`` with the primary key. ``env`` gives the language
    of the error messages (as every function here that may fail)."""
    return _fernet(env).encrypt(clear.encode()).decode()


def decrypt(token, env):
    """Return the clear text of a token made by :func:`encrypt` with any configured key."""
    try:
        return _fernet(env).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyInvalid(
            env._(
                "A stored AP Sync secret cannot be decrypted with the keys in '%(option)s': the key was "
                "changed without re-encrypting. Put the old key back after the new one (comma-separated), "
                "or enter the secret again.",
                option=CONFIG_OPTION,
            )
        ) from exc


def rotate(token, env):
    """Re-encrypt ``token`` with the primary key (after a key rotation)."""
    return _fernet(env).rotate(token.encode()).decode()
