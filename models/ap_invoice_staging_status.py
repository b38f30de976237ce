"""Status back: what the platform is told about a staging record (erp-status messages), and rejection.

Messages go through the outbox (``ap.sync.outbox``): queued in the same transaction as the change
they report, rendered by the platform's provider at delivery."""

from odoo import _, models
from odoo.exceptions import UserError


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    def _after_bill_created(self):
        """Tell the platform; post the bill when the platform allows it, every check passed and the
        acting user may post."""
        res = super()._after_bill_created()
        self._enqueue_erp_status("bill_created")
        if self.move_id and self._may_auto_post(self.move_id):
            self.move_id.action_post()
        return res

    # ------------------------------------------------------------------ status back to the platform
    def _enqueue_erp_status(self, status, message=None):
        """Write an erp-status message for the platform (sent after commit, in order per document)."""
        for record in self:
            move = record.move_id
            payments = move._get_reconciled_payments() if move else move
            payment_date = max(payments.mapped("date"), default=None) if payments else None
            payload = {
                "status": status,
                "erp_reference": move.name if move and move.name != "/" else (record.name or ""),
                "erp_id": move.id or None,
                "amount_residual": str(move.amount_residual) if move else None,
                "payment_date": payment_date.isoformat() if payment_date else None,
                "message": message or None,
            }
            self.env["ap.sync.outbox"]._enqueue_message(
                record.platform_id, "erp_status", {key: value for key, value in payload.items() if value is not None},
                record.document_id, document_key=f"invoice:{record.document_id}", source=move or record,
                staging=record, status=status,
            )  # fmt: skip

    def action_reject_to_platform(self, reason):
        """Refuse the document for good and tell the platform why (erp-status rejected)."""
        if not (reason or "").strip():
            raise UserError(_("Write down why the invoice is rejected: the platform receives the reason."))
        for record in self:
            if record.move_id:
                raise UserError(_("%s already has a bill: cancel the bill instead.", record.display_name))
            record.sudo()._set_state("rejected", reason.strip())
            record.sudo()._enqueue_erp_status("rejected", reason.strip())
        return True
