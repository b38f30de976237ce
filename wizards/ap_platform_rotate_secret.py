from odoo import _, fields, models
from odoo.exceptions import UserError


class ApPlatformRotateSecret(models.TransientModel):
    """Replace the webhook secret while the old one stays valid for a grace period."""

    _name = "ap.platform.rotate.secret"
    _description = "Rotate AP Platform Webhook Secret"

    platform_id = fields.Many2one("ap.platform", required=True, ondelete="cascade")
    new_secret = fields.Char(
        string="New Webhook Secret",
        required=True,
        help="The new whsec_... secret, as configured (or generated) on the platform.",
    )
    grace_hours = fields.Integer(
        default=24,
        required=True,
        help="How long the current secret stays accepted, so that events signed with it are not lost.",
    )

    def action_rotate(self):
        self.ensure_one()
        if self.grace_hours < 0:
            raise UserError(_("The grace period cannot be negative."))
        self.platform_id.check_access("write")
        self.platform_id._rotate_webhook_secret(self.new_secret, self.grace_hours)
        # The transient record must not keep the clear secret until the vacuum.
        self.sudo().new_secret = "-"
        return {"type": "ir.actions.act_window_close"}
