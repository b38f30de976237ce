"""Exceptions raised by account_ap_sync.

User-facing errors derive from Odoo's ``UserError`` so that they reach a person as a readable
message; machine-facing errors carry an HTTP status and a JSON error code (contract section 1).
"""

from odoo.exceptions import UserError


class ApSyncError(UserError):
    """Base class of the errors this module shows to a person."""


class EncryptionKeyMissing(ApSyncError):
    """No Fernet key configured (``ap_sync_encryption_key`` / ``AP_SYNC_ENCRYPTION_KEY``)."""


class EncryptionKeyInvalid(ApSyncError):
    """The configured key is not a valid Fernet key, or cannot decrypt a stored secret."""


class PlatformCallError(ApSyncError):
    """An outbound call to the platform failed (transport error or unexpected answer)."""

    def __init__(self, message, status=None, transient=False, retry_after=None):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


class IntakeError(Exception):
    """An inbound request refused at the door: HTTP status plus the JSON body to answer."""

    def __init__(self, status, body):
        super().__init__(body.get("error", "error"))
        self.status = status
        self.body = body
