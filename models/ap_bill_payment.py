"""The payments of BILL documents, both ways: the ledger that keeps a bill from being paid twice.

One row per (platform, BILL payment id, BILL bill id):

* ``direction = 'bill'``: BILL paid (``payment.updated`` with status PAID). The row registers the payment
  on the Odoo bill in the platform's journal, unless Odoo already has it or is already paid (a crossing:
  an exception, nothing registered).
* ``direction = 'odoo'``: Odoo paid and recorded it in BILL (``POST /v3/bills/record-payment``). When BILL
  later notifies that payment, the row says Odoo already has it.

The database keeps one row per payment and bill, so a notification delivered twice, or by the webhook
and the pull at once, registers nothing twice.
"""

from decimal import Decimal

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models

PAID = "PAID"
PAID_STATUSES = {"PAID", "SETTLED", "COMPLETED", "CLEARED"}
FAILED_STATUSES = {"FAILED", "CANCELLED", "CANCELED", "VOID", "VOIDED", "RETURNED"}


class ApBillPayment(models.Model):
    _name = "ap.bill.payment"
    _description = "BILL Payment of a Platform Document"
    _order = "id desc"
    _check_company_auto = True

    platform_id = fields.Many2one("ap.platform", required=True, readonly=True, index=True, ondelete="cascade")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    staging_id = fields.Many2one("ap.invoice.staging", readonly=True, index=True, ondelete="set null")
    bill_id = fields.Char(string="BILL Bill ID", required=True, readonly=True, index=True)
    payment_ref = fields.Char(string="BILL Payment ID", readonly=True, index=True)
    direction = fields.Selection(
        [("bill", "Paid through BILL"), ("odoo", "Paid in Odoo, recorded in BILL")],
        required=True,
        readonly=True,
    )
    amount = fields.Float(readonly=True, digits=(16, 6))
    currency_id = fields.Many2one(related="staging_id.currency_id")
    bill_status = fields.Char(string="BILL Status", readonly=True)
    process_date = fields.Date(readonly=True)
    state = fields.Selection(
        [("pending", "Waiting for the Odoo bill"), ("registered", "In Odoo and BILL"), ("conflict", "Conflict"),
         ("failed", "Failed in BILL")],
        required=True, default="pending", readonly=True, index=True,
    )  # fmt: skip
    payment_id = fields.Many2one(
        "account.payment", string="Odoo Payment", readonly=True, index="btree_not_null"
    )
    note = fields.Text(readonly=True)

    _sql_constraints = [
        (
            "payment_bill_uniq",
            "unique(platform_id, payment_ref, bill_id)",
            "A BILL payment is applied to a bill once.",
        ),
    ]

    # ------------------------------------------------------------------ BILL paid (payment.updated)
    @api.model
    def _from_notification(self, event, payment):
        """Apply a BILL payment object (from payment.updated or payment.failed) to the bills it pays."""
        platform = event.platform_id
        status = str(payment.get("status") or payment.get("singleStatus") or "").upper()
        failed = event.event_type.endswith("payment.failed") or status in FAILED_STATUSES
        bill_ids = list(payment.get("billIds") or ([payment["billId"]] if payment.get("billId") else []))
        parts = payment.get("billPayments") or [
            {"billId": bill_id, "amount": payment.get("amount") if len(bill_ids) == 1 else None}
            for bill_id in bill_ids
        ]
        notes = []
        for part in parts:
            bill_id = part.get("billId")
            staging = self.env["ap.invoice.staging"].search(
                [("platform_id", "=", platform.id), ("document_id", "=", bill_id)], limit=1
            )
            if not staging:
                notes.append(_("bill %s is not staged in Odoo: nothing to apply", bill_id))
                continue
            if failed:
                notes.append(self._apply_failure(platform, staging, payment, part, status))
            elif status in PAID_STATUSES:
                notes.append(self._apply_paid(platform, staging, payment, part))
            else:
                notes.append(
                    _("bill %(bill)s: payment %(status)s, nothing to do yet", bill=bill_id, status=status)
                )
        event._mark("applied" if parts else "ignored", "\n".join(notes) or _("no bill in this payment"))

    def _find_row(self, platform, payment_ref, bill_id):
        return self.search(
            [("platform_id", "=", platform.id), ("payment_ref", "=", payment_ref), ("bill_id", "=", bill_id)],
            limit=1,
        )

    def _apply_paid(self, platform, staging, payment, part):
        payment_ref, bill_id = payment.get("id") or payment.get("transactionNumber"), part.get("billId")
        if not payment_ref:
            reason = _("BILL reports a payment of bill %s without a payment id: nothing was registered (a payment "
                       "that cannot be told apart could be registered twice); register it by hand.", bill_id)  # fmt: skip
            staging._bill_flag("payment_conflict", reason)
            return reason
        existing = self._find_row(platform, payment_ref, bill_id)
        if existing and existing.direction == "odoo":
            return _("bill %(bill)s: payment %(ref)s was recorded in BILL by Odoo: Odoo already has it",
                     bill=bill_id, ref=payment_ref)  # fmt: skip
        if existing and existing.state in ("registered", "conflict"):
            return _("bill %(bill)s: payment %(ref)s already applied", bill=bill_id, ref=payment_ref)
        amount = part.get("amount")
        if amount is None:
            reason = _("BILL paid bill %(bill)s within payment %(ref)s without saying how much of it went to this "
                       "bill: nothing was registered; register it by hand.", bill=bill_id, ref=payment_ref)  # fmt: skip
            staging._bill_flag("payment_conflict", reason)
            return reason
        row = existing
        if not row:
            try:
                with self.env.cr.savepoint():
                    row = self.sudo().create({
                        "platform_id": platform.id, "company_id": platform.company_id.id, "staging_id": staging.id,
                        "bill_id": bill_id, "payment_ref": payment_ref, "direction": "bill",
                        "amount": float(Decimal(str(amount))) if amount is not None else 0.0,
                        "bill_status": PAID, "process_date": payment.get("processDate") or False,
                    })  # fmt: skip
            except pg_errors.UniqueViolation:
                return _("bill %(bill)s: payment %(ref)s already applied", bill=bill_id, ref=payment_ref)
        return row._apply_to_odoo()

    def _apply_to_odoo(self):
        """Register this BILL payment on the Odoo bill, unless that would pay it twice."""
        self.ensure_one()
        staging, platform = self.staging_id, self.platform_id
        move = staging.move_id
        if not move or move.state != "posted":
            self.write({"state": "pending", "note": _("Waiting for the Odoo bill to be posted.")})
            return _("bill %s: waits for the Odoo bill to be posted", self.bill_id)
        rounding = staging._bill_rounding()
        amount = Decimal(str(self.amount)).quantize(rounding)
        residual = Decimal(str(move.amount_residual)).quantize(rounding)
        if residual <= 0 or amount - residual > rounding / 2:
            reason = _(
                "BILL paid %(amount)s on %(bill)s (payment %(ref)s), but the Odoo bill %(move)s %(what)s. Nothing was "
                "registered in Odoo: check with the vendor whether it was paid twice, and recover the money.",
                amount=amount, bill=self.bill_id, ref=self.payment_ref, move=move.display_name,
                what=_("is already paid") if residual <= 0 else _("only owes %s", residual),
            )  # fmt: skip
            self.write({"state": "conflict", "note": reason})
            staging._bill_flag("payment_conflict", reason)
            return reason
        journal = platform.bill_payment_journal_id
        if not journal:
            reason = _("BILL paid %(amount)s on %(bill)s, but the platform has no BILL Payments Journal: set one, "
                       "then the payment is registered.", amount=amount, bill=self.bill_id)  # fmt: skip
            self.write({"state": "pending", "note": reason})
            staging._bill_flag("payment_conflict", reason)
            return reason
        wizard = (
            self.env["account.payment.register"]
            .sudo()
            .with_company(move.company_id)
            .with_context(active_model="account.move", active_ids=move.ids)
            .create(
                {
                    "journal_id": journal.id,
                    "amount": float(amount),
                    "payment_date": self.process_date or fields.Date.context_today(self),
                    "communication": _("BILL payment %s", self.payment_ref),
                }
            )  # fmt: skip
        )
        payments = wizard._create_payments()
        self.env.flush_all()
        self.write({"state": "registered", "payment_id": payments[:1].id, "note": False})
        staging.message_post(
            body=_(
                "BILL paid %(amount)s (payment %(ref)s): registered as %(payment)s.",
                amount=amount,
                ref=self.payment_ref,
                payment=payments[:1].display_name,
            )  # fmt: skip
        )
        return _("bill %(bill)s: payment %(ref)s registered", bill=self.bill_id, ref=self.payment_ref)

    def _apply_failure(self, platform, staging, payment, part, status):
        """A failed payment reverses nothing: it opens an exception for a person."""
        messages = payment.get("errors") or payment.get("errorMessages") or payment.get("message") or ""
        if isinstance(messages, list):
            messages = "; ".join(str(m.get("message") if isinstance(m, dict) else m) for m in messages)
        existing = self._find_row(platform, payment.get("id"), part.get("billId"))
        registered = existing.filtered(lambda r: r.state == "registered" and r.payment_id)
        reason = _(
            "BILL reports payment %(ref)s of bill %(bill)s as %(status)s%(why)s. Nothing was reversed in Odoo%(odoo)s.",
            ref=payment.get("id") or "-", bill=part.get("billId"), status=status or _("failed"),
            why=f": {messages}" if messages else "",
            odoo=_(": payment %s stays registered, reverse it if the money did not leave",
                   registered.payment_id.display_name) if registered else "",
        )  # fmt: skip
        if existing:
            existing.write({"bill_status": status or "FAILED", "note": reason,
                            "state": "failed" if existing.state != "registered" else existing.state})  # fmt: skip
        staging._bill_flag("payment_failed", reason)
        return reason

    # ------------------------------------------------------------------ Odoo paid (recorded in BILL)
    @api.model
    def _record_from_odoo(self, staging, payment, amount):
        """Remember a payment Odoo recorded in BILL (the answer of record-payment)."""
        return self.sudo().create({
            "platform_id": staging.platform_id.id, "company_id": staging.company_id.id, "staging_id": staging.id,
            "bill_id": staging.document_id, "payment_ref": payment.get("id") or False, "direction": "odoo",
            "amount": float(amount), "bill_status": str(payment.get("status") or PAID),
            "process_date": payment.get("processDate") or False, "state": "registered",
        })  # fmt: skip

    @api.model
    def _apply_pending(self, moves):
        """Bills just posted: apply the BILL payments that were waiting for them."""
        rows = self.sudo().search([("state", "=", "pending"), ("direction", "=", "bill"),
                                   ("staging_id.move_id", "in", moves.ids)])  # fmt: skip
        for row in rows:
            row._apply_to_odoo()
