"""Login and password of a platform user, for providers that sign in (BILL; Rossum uses the same fields).

``api_password`` is write-only and stored encrypted like the other secrets (kind ``api_password``)."""

from odoo import _, fields, models

from . import ap_platform, ap_platform_secret  # noqa: F401  (extended here)


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    api_login = fields.Char(
        string="API Login", tracking=True, help="The platform user the integration signs in as."
    )
    api_password = fields.Char(
        string="API Password",
        compute="_compute_secret_inputs",
        inverse="_inverse_api_password",
        groups="account_ap_sync.group_ap_sync_manager",
        copy=False,
        help="Write-only: stored encrypted, never shown again.",
    )

    def _compute_secret_inputs(self):
        super()._compute_secret_inputs()
        for platform in self:
            platform.api_password = False

    def _inverse_api_password(self):
        self._store_secret_input("api_password", _("API password changed."))


class ApPlatformSecret(models.Model):
    _inherit = "ap.platform.secret"

    kind = fields.Selection(
        selection_add=[("api_password", "API password")], ondelete={"api_password": "cascade"}
    )
