"""One difference found by a reconciliation, with the action that fixes it."""

from odoo import _, fields, models
from odoo.exceptions import UserError

# The erp-status that tells the platform where a billed record stands.
STATUS_OF_STATE = {"bill_created": "bill_created", "posted": "posted", "paid": "paid"}


class ApSyncReconciliationLine(models.Model):
    _name = "ap.sync.reconciliation.line"
    _description = "AP Sync Reconciliation Difference"
    _order = "kind, id"

    reconciliation_id = fields.Many2one(
        "ap.sync.reconciliation", required=True, index=True, ondelete="cascade"
    )
    platform_id = fields.Many2one(related="reconciliation_id.platform_id", store=True)
    company_id = fields.Many2one(related="reconciliation_id.company_id", store=True)
    kind = fields.Selection(
        [
            ("missing_in_odoo", "Approved on the platform, not in Odoo"),
            ("not_acknowledged", "Billed in Odoo, not acknowledged"),
            ("amount_differs", "Amounts differ"),
        ],
        required=True,
        readonly=True,
    )
    document_id = fields.Char(string="Platform Document ID", readonly=True)
    number = fields.Char(string="Vendor Reference", readonly=True)
    staging_id = fields.Many2one("ap.invoice.staging", readonly=True, ondelete="set null")
    move_id = fields.Many2one(related="staging_id.move_id", string="Bill")
    platform_status = fields.Char(readonly=True)
    odoo_state = fields.Char(readonly=True)
    platform_amount = fields.Float(readonly=True)
    odoo_amount = fields.Float(readonly=True)
    document_json = fields.Json(readonly=True, help="The document as listed by the platform (missing ones).")
    state = fields.Selection(
        [("open", "Open"), ("done", "Done")], default="open", required=True, readonly=True
    )
    note = fields.Char(readonly=True)

    def action_pull(self):
        """Store the missing documents from the listing, through the pull's intake (no new call)."""
        self.reconciliation_id.check_access("write")
        stored = self.browse()
        for line in self.filtered(lambda item: item.kind == "missing_in_odoo" and item.state == "open"):
            platform = line.platform_id.sudo()
            platform._pull_store([line.document_json or {}])
            staging = (
                self.env["ap.invoice.staging"]
                .sudo()
                .search([("platform_id", "=", platform.id), ("document_id", "=", line.document_id)], limit=1)
            )
            if staging:
                line.write(
                    {"state": "done", "staging_id": staging.id, "note": _("Pulled as %s.", staging.name)}
                )
                stored |= line
            else:
                line.write({"note": _("Not stored: see the sync log (schema?).")})
        if stored:
            self.env.ref("account_ap_sync.ir_cron_ap_sync_process").sudo()._trigger()
        return True

    def action_resend_status(self):
        """Send the billed record's status again: replay a dead message, or write a new one."""
        self.reconciliation_id.check_access("write")
        Outbox = self.env["ap.sync.outbox"].sudo()
        for line in self.filtered(lambda item: item.kind == "not_acknowledged" and item.state == "open"):
            staging = line.staging_id.sudo()
            if not staging:
                raise UserError(_("%s has no staged record any more.", line.document_id))
            messages = Outbox.search(
                [("staging_id", "=", staging.id), ("kind", "=", "erp_status")], order="id"
            )
            dead = messages.filtered(lambda m: m.state == "dead")
            if dead:
                dead.with_user(self.env.user).sudo(False).action_replay()
                note = _("Dead message(s) replayed: %s.", ", ".join(f"OUT-{m.id}" for m in dead))
            elif messages.filtered(lambda m: m.state == "pending"):
                self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver").sudo()._trigger()
                note = _("A message is still pending: delivery triggered.")
            else:
                status = STATUS_OF_STATE.get(staging.state, "bill_created")
                staging._enqueue_erp_status(status)
                note = _("Status %s sent again.", status)
            line.write({"state": "done", "note": note})
        return True
