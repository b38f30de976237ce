from odoo import fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    ap_staging_id = fields.Many2one(
        "ap.invoice.staging", string="AP Platform Document", readonly=True, copy=False, index="btree_not_null"
    )
    ap_approval_status = fields.Char(related="ap_staging_id.approval_status", string="Platform Approval")
    ap_approved_at = fields.Char(related="ap_staging_id.approved_at", string="Approved at (platform)")
    ap_approvers = fields.Text(related="ap_staging_id.approvers", string="Approvers (platform)")

    def action_open_ap_staging(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "ap.invoice.staging",
            "res_id": self.ap_staging_id.id,
            "view_mode": "form",
        }
