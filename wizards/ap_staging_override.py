from odoo import fields, models


class ApStagingOverride(models.TransientModel):
    """A manager releases a possible duplicate or accepts a variance, with a written reason."""

    _name = "ap.staging.override"
    _description = "AP Sync Override With Reason"

    staging_ids = fields.Many2many("ap.invoice.staging", required=True)
    kind = fields.Selection(
        [("duplicate", "Not a duplicate"), ("variance", "Accept variance")], required=True
    )
    reason = fields.Text(required=True, help="Kept on the record and in its chatter.")

    def action_confirm(self):
        self.staging_ids._override(self.kind, self.reason)
        return {"type": "ir.actions.act_window_close"}
