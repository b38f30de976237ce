"""Exceptions raised by account_ap_sync.

User-facing errors derive from Odoo's ``UserError`` so that they reach a person as a readable
message; machine-facing errors carry an HTTP status and a JSON error code (contract section 1).
"""

from odoo.exceptions import UserError

from .utils.retry import TRANSIENT_STATUSES, parse_retry_after


class ApSyncError(UserError):
    """Base class of the errors this module shows to a person."""


class EncryptionKeyMissing(ApSyncError):
    """No Fernet key configured (``ap_sync_encryption_key`` / ``AP_SYNC_ENCRYPTION_KEY``)."""


class EncryptionKeyInvalid(ApSyncError):
    """The configured key is not a valid Fernet key, or cannot decrypt a stored secret."""


class PlatformCallError(ApSyncError):
    """An outbound call to the platform failed. Like OCA queue_job's ``RetryableJobError`` (a message
    and the ``seconds`` to wait), it carries the retry decision, so that every caller (outbox, pull,
    approval verification) acts on the same verdict instead of interpreting statuses on its own.

    * ``transient``: True when trying again later may succeed (timeouts, connection errors, 408/425/
      429/5xx, a truncated or unreadable answer); False when the same call will fail again
      (4xx refusals, a body above the size limit, a redirect to another host, missing settings);
    * ``retry_after``: seconds the platform asked to wait (``Retry-After``), or None;
    * ``status``: the HTTP status, or None when no answer came;
    * ``ignore_retry``: the call was never made, for a reason of this database that an administrator
      must mend (a stored secret it cannot decrypt): the attempt does not count against the retry
      limit (queue_job's ``ignore_retry``), the work waits ``retry_after`` seconds and is not lost;
    * ``reason``: a readable sentence for people (also ``args[0]``).

    :meth:`from_response` builds the error of a refused answer from its status and headers.
    """

    def __init__(self, message, status=None, transient=False, retry_after=None, ignore_retry=False):
        super().__init__(message)
        self.status = status
        self.transient = transient or ignore_retry
        self.retry_after = retry_after
        self.ignore_retry = ignore_retry

    @classmethod
    def from_response(cls, message, response, retry_after=None):
        """The error of a refused answer (``requests.Response``): transient for the statuses in
        :data:`TRANSIENT_STATUSES`, waiting what its ``Retry-After`` asks (else ``retry_after``)."""
        status = response.status_code
        asked = parse_retry_after(response.headers.get("Retry-After"))
        return cls(
            message,
            status=status,
            transient=status in TRANSIENT_STATUSES,
            retry_after=asked if asked is not None else retry_after,
        )

    @property
    def reason(self):
        return self.args[0] if self.args else ""


class IntakeError(Exception):
    """An inbound request refused at the door: HTTP status plus the JSON body to answer."""

    def __init__(self, status, body):
        super().__init__(body.get("error", "error"))
        self.status = status
        self.body = body
