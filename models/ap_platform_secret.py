from cryptography.fernet import InvalidToken

from odoo import api, fields, models

from ..exceptions import EncryptionKeyInvalid
from ..utils import crypto

SECRET_KINDS = [
    ("api_key", "API key"),
    ("webhook_secret", "Webhook secret"),
    ("webhook_secret_previous", "Previous webhook secret"),
    ("api_password", "API password"),
    ("session_token", "Session token"),  # a provider's login session, with its expiry
]


class ApPlatformSecret(models.Model):
    """Encrypted secrets of a platform.

    A separate table that no group may read, write or export: only this module's code reaches it,
    through ``sudo()``, and only the Fernet token is stored. Managers set secrets through the
    write-only fields of ``ap.platform``.
    """

    _name = "ap.platform.secret"
    _description = "AP Platform Secret (encrypted)"
    _log_access = True

    platform_id = fields.Many2one("ap.platform", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(SECRET_KINDS, required=True)
    token = fields.Char(required=True, help="Fernet token; the key is outside the database.")

    _sql_constraints = [
        ("platform_kind_uniq", "unique(platform_id, kind)", "A platform holds one secret of each kind."),
    ]

    @api.model
    def _set(self, platform, kind, clear):
        """Store (or clear, with an empty value) one secret of ``platform``."""
        record = self.sudo().search([("platform_id", "=", platform.id), ("kind", "=", kind)])
        if not clear:
            self.env.cr.cache.pop("account_ap_sync.api_keys", None)
            record.unlink()
            return
        self.env.cr.cache.pop("account_ap_sync.api_keys", None)  # a changed key is used at once
        token = crypto.encrypt(clear, self.env)
        if record:
            record.write({"token": token})
        else:
            self.sudo().create({"platform_id": platform.id, "kind": kind, "token": token})

    @api.model
    def _get(self, platform, kind):
        # One query for the record and its token (every webhook reads its platform's secret).
        record = self.sudo().search_fetch([("platform_id", "=", platform.id), ("kind", "=", kind)], ["token"])
        return crypto.decrypt(record.token, self.env) if record else None

    @api.model
    def _reencrypt_all(self):
        """Re-encrypt every secret with the primary key (see README, "Rotating the key")."""
        records = self.sudo().search([])
        for record in records:
            try:
                record.token = crypto.rotate(record.token, self.env)
            except InvalidToken as exc:
                raise EncryptionKeyInvalid(
                    self.env._(
                        "The %(kind)s of platform %(platform)s cannot be decrypted with any configured key: put "
                        "the key it was encrypted with in the list, or enter that secret again.",
                        kind=dict(record._fields["kind"]._description_selection(self.env))[record.kind],
                        platform=record.platform_id.code,
                    )
                ) from exc
        return len(records)
