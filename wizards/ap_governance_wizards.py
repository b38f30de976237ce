from odoo import _, api, fields, models


class ApPostingOverride(models.TransientModel):
    """An AP Sync manager lets bills be posted although they differ from their approved document."""

    _name = "ap.posting.override"
    _description = "AP Sync Posting Gate Override"

    move_ids = fields.Many2many("account.move", required=True)
    problems = fields.Text(compute="_compute_problems", string="Differences")
    reason = fields.Text(required=True, help="Kept on the bill, in its chatter and in its audit pack.")

    @api.depends("move_ids")
    def _compute_problems(self):
        for wizard in self:
            wizard.problems = "\n\n".join(
                f"{move.display_name}:\n" + "\n".join(move._ap_gate_problems()) for move in wizard.move_ids
            )

    def action_confirm(self):
        self.move_ids._ap_override_gate(self.reason)
        return {"type": "ir.actions.act_window_close"}


class ApPlatformReenable(models.TransientModel):
    """An administrator takes a neutralized platform back into use, with new credentials."""

    _name = "ap.platform.reenable"
    _description = "AP Sync Re-enable Neutralized Platform"

    platform_id = fields.Many2one("ap.platform", required=True)
    environment = fields.Selection(
        [("production", "Production"), ("sandbox", "Sandbox")], required=True, default="sandbox"
    )
    base_url = fields.Char(string="Base URL", help="The platform's API root (a sandbox tenant's, usually).")
    api_key = fields.Char(string="New API Key", required=True)
    webhook_secret = fields.Char(string="New Webhook Secret", required=True, help="whsec_...")

    def action_confirm(self):
        self.platform_id._reenable(self.environment, self.api_key, self.webhook_secret, self.base_url)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Platform re-enabled"),
                "message": _("%s may be called again.", self.platform_id.display_name),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }


class ApAuditPackExport(models.TransientModel):
    """The audit packs of a company's platform bills for a period, as one zip with an index."""

    _name = "ap.audit.pack.export"
    _description = "AP Sync Audit Pack Export"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    date_from = fields.Date(required=True)
    date_to = fields.Date(required=True)

    def action_export(self):
        self.ensure_one()
        attachment = self.env["ap.audit.pack"]._export_zip(self.company_id, self.date_from, self.date_to)
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "self",
        }
