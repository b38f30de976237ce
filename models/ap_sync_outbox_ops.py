"""Outbox: priority across documents and the batch windows of the sync policy.

Per-document order is untouched: a message is claimable only when no earlier message of its document
is pending or dead (see ``ap.sync.outbox._claim``), so the priority orders documents, never the
messages of one document.
"""

from odoo import api, fields, models

from .ap_sync_policy import PAYMENT_STATUSES, SYNC_DOMAINS


class ApSyncOutbox(models.Model):
    _inherit = "ap.sync.outbox"

    priority = fields.Integer(
        default=0,
        readonly=True,
        index=True,
        help="Delivery goes by priority, then first in, first out: the priority of the invoice the message "
        "is about, or the vendor and platform rules for vendor and PO messages.",
    )
    sync_domain = fields.Selection(
        selection=SYNC_DOMAINS,
        compute="_compute_sync_domain",
        store=True,
        string="Data Domain",
    )

    @api.depends("kind", "status")
    def _compute_sync_domain(self):
        for message in self:
            message.sync_domain = self._domain_of(message.kind, message.status)

    @api.model
    def _domain_of(self, kind, status):
        if kind in ("vendor", "vendor_request"):
            return "vendor_master"
        if kind == "purchase_order":
            return "po_receipts"
        return "payment_status" if status in PAYMENT_STATUSES else "approval_status"

    @api.model
    def _enqueue(
        self, platform, kind, method, path, payload, document_key, source=None, staging=None, status=None,
        target=None,
    ):  # fmt: skip
        message = super()._enqueue(
            platform, kind, method, path, payload, document_key, source=source, staging=staging, status=status,
            target=target,
        )  # fmt: skip
        values = {"priority": message._get_priority()}
        later = self.env["ap.sync.policy"]._batch_due_at(message.sync_domain, message.company_id)
        if later:
            # Batch domain: the message waits for its window (the delivery cron wakes up then).
            values["next_attempt_at"] = later
        message.sudo().write(values)
        if later:
            self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver").sudo()._trigger(later)
        return message

    def _get_priority(self, cache=None):
        self.ensure_one()
        if self.staging_id:
            return self.staging_id.priority
        partner = self.env["res.partner"]
        if self.res_model == "res.partner" and self.res_id:
            partner = partner.browse(self.res_id).exists()
        elif self.res_model == "purchase.order" and self.res_id:
            partner = self.env["purchase.order"].browse(self.res_id).exists().partner_id
        return self.env["ap.sync.priority.rule"]._score(
            self.company_id, partner=partner.commercial_partner_id, platform=self.platform_id, cache=cache
        )

    def _update_priority(self):
        cache = {}
        for message in self:
            priority = message._get_priority(cache)
            if priority != message.priority:
                message.sudo().write({"priority": priority})
