"""Delivery of outbox messages to BILL, rendered at delivery from the stored message kind and payload.

* erp-status ``in_payment`` / ``partially_paid`` / ``paid``: what Odoo paid is recorded in BILL as paid
  outside BILL (``POST /v3/bills/record-payment``), after re-reading the BILL bill: if BILL has paid it in the
  meantime (crossing payments), nothing is recorded and a person is told.
* vendor: ``PATCH /v3/vendors/{vendorId}``, rendered by the provider (``_render_outbound``), sent by ``_call``.
* BILL has no call for the other erp-status values nor for purchase orders: those are never queued.
"""

import logging
from decimal import Decimal

from odoo import _, fields, models

from ..exceptions import PlatformCallError
from ..utils.url import segment
from . import ap_sync_publish  # noqa: F401  (its overrides come first in the chain)

_logger = logging.getLogger(__name__)


class ApSyncOutbox(models.Model):
    _inherit = "ap.sync.outbox"

    def _deliver(self):
        """BILL payment messages need a read of the BILL bill before the record-payment: they go one by one
        (each through the organization's concurrency limit); the others go the generic way."""
        bill_payments = self.filtered(lambda m: m.platform_id.provider == "bill" and m.kind == "erp_status")
        for message in bill_payments:
            message._deliver_one()
        return super(ApSyncOutbox, self - bill_payments)._deliver()

    def _deliver_one(self, deferred_logs=None):
        if self.platform_id.provider != "bill" or self.kind != "erp_status":
            return super()._deliver_one(deferred_logs)  # vendors: rendered by the provider, sent by _call
        self.ensure_one()
        if self._get_request() is None:
            return super()._deliver_one(deferred_logs)  # no such call: cancelled by the generic delivery
        try:
            kind, detail = self._bill_record_payment()
        except PlatformCallError as exc:
            return self._record_answer(exc)  # retried later or dead, as the error decides
        if kind == "skip":
            self.sudo().write({"state": "done", "done_at": fields.Datetime.now(), "attempts": self.attempts + 1,
                               "last_status": 0, "last_error": detail})  # fmt: skip
            return False
        response = detail
        if not response.ok:
            response = PlatformCallError.from_response(self.platform_id._bill_error_text(response), response)
        return self._record_answer(response)

    def _bill_log_values(self):
        return {"staging_id": self.staging_id.id or None, "reference": f"OUT-{self.id}"}

    def _bill_record_payment(self):
        """Record in BILL what Odoo paid and BILL does not know yet, unless BILL paid it meanwhile."""
        staging, platform = self.staging_id, self.platform_id
        if not staging or not staging.move_id:
            return "skip", _("No Odoo bill: nothing to record.")
        staging = staging.sudo()
        amount = staging._bill_amount_to_record()
        if amount <= 0:
            return "skip", _(
                "Nothing paid in Odoo that BILL does not know (paid through BILL, or recorded already)."
            )
        bill = platform._bill_get(
            f"/v3/bills/{segment(staging.document_id)}", "bill.record_payment.check", self._bill_log_values()
        )
        due = bill.get("dueAmount")
        due = Decimal(str(due)) if due is not None else Decimal(str(bill.get("amount") or 0))
        if (
            str(bill.get("paymentStatus") or "").upper() == "PAID"
            or amount - due > staging._bill_rounding() / 2
        ):
            reason = _(
                "Odoo paid %(amount)s on %(move)s, but BILL %(what)s (payment status %(status)s). Nothing was recorded "
                "in BILL: check with the vendor whether it was paid twice, and recover the money.",
                amount=amount, move=staging.move_id.display_name, status=bill.get("paymentStatus") or "-",
                what=_("has paid it already") if due <= 0 else _("only shows %s due", due),
            )  # fmt: skip
            staging._bill_flag("payment_conflict", reason)
            return "skip", reason
        payments = staging.move_id._get_reconciled_payments()
        body = {
            "vendorId": bill.get("vendorId") or staging.supplier_external_id,
            "processDate": (
                max(payments.mapped("date"), default=None) or fields.Date.context_today(self)
            ).isoformat(),
            "toPrintCheck": False,
            "description": _("Paid in Odoo: %s", staging.move_id.name)[:200],
            "referenceId": ", ".join(payments.mapped("name"))[:100] or staging.move_id.name,
            "payments": [{"billId": staging.document_id, "amount": amount}],
        }
        response = platform._bill_request(
            "POST", "/v3/bills/record-payment", payload=body, idempotency_key=self.idempotency_key,
            event_type="outbox.record_payment", log_values=self._bill_log_values(),
        )  # fmt: skip
        if response.ok:
            try:
                answer = platform._bill_json(response)
            except ValueError:
                answer = {}
            self.env["ap.bill.payment"]._record_from_odoo(
                staging, answer if isinstance(answer, dict) else {}, amount
            )
            staging.message_post(body=_("Recorded in BILL as paid outside BILL: %s.", amount))
        return "sent", response
