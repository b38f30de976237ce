from odoo import api, fields, models


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


# erp-status value for each payment_state (a paid bill made unpaid again goes back to "posted")
PAYMENT_STATUS = {
    "in_payment": "in_payment",
    "partial": "partially_paid",
    "paid": "paid",
    "reversed": "reversed",
    "not_paid": "posted",
}


class AccountMoveApSync(models.Model):
    _inherit = "account.move"

    ap_payment_state_sent = fields.Char(
        readonly=True, copy=False, help="Last payment state told to the platform."
    )

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        for move in posted.filtered("ap_staging_id"):
            staging = move.ap_staging_id.sudo()
            if staging.state == "bill_created":
                staging._set_state("posted", step="create_bill")
            staging._enqueue_erp_status("posted")
            move.sudo().ap_payment_state_sent = move.payment_state
        return posted

    def _compute_payment_state(self):
        res = super()._compute_payment_state()
        moves = self.filtered(lambda m: m.ap_staging_id and m.state == "posted")
        if moves:
            pending = self.env.cr.precommit.data.setdefault("account_ap_sync.payment_moves", set())
            if not pending:
                self.env.cr.precommit.add(self._ap_sync_notify_payment_states)
            pending.update(moves.ids)
        return res

    @api.model
    def _ap_sync_notify_payment_states(self):
        """Before commit: every AP bill whose payment state changed in this transaction tells the platform,
        in the same transaction as the payment."""
        ids = self.env.cr.precommit.data.pop("account_ap_sync.payment_moves", set())
        for move in self.sudo().browse(sorted(ids)).exists():
            state = move.payment_state
            if state == move.ap_payment_state_sent or state not in PAYMENT_STATUS:
                continue
            staging = move.ap_staging_id
            staging._enqueue_erp_status(PAYMENT_STATUS[state])
            move.ap_payment_state_sent = state
            if state == "paid" and staging.state == "posted":
                staging._set_state("paid")
            elif state in ("not_paid", "partial", "in_payment") and staging.state == "paid":
                staging._set_state("posted")
        self.env.flush_all()
