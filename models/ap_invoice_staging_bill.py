"""BILL documents in the pipeline: the vendor's tax id, the approval wait and re-reading, the payments.

Provider-guarded: every method leaves the other platforms' documents to ``super()``.
"""

from decimal import Decimal

from odoo import _, api, fields, models

from ..exceptions import PlatformCallError
from ..utils import bill_mapping
from ..utils.url import segment
from . import (  # noqa: F401  (extended here)
    ap_invoice_staging_line,
    ap_invoice_staging_steps,
    ap_sync_exception,
)
from .ap_invoice_staging import OPEN_STATES, document_digest

BILL_EXCEPTION_TYPES = [
    ("approval_pending", "Waiting for approval on the platform"),
    ("payment_conflict", "Payment conflict (paid twice?)"),
    ("payment_failed", "Payment failed on the platform"),
]
BILL_EXCEPTION_ONDELETE = dict.fromkeys((kind for kind, _label in BILL_EXCEPTION_TYPES), "set null")
PAYMENT_FLAG_TYPES = ("payment_conflict", "payment_failed")


def _significant(invoice):
    """What must not change between the approved version and the one re-read before billing."""
    keep = ("id", "number", "issue_date", "due_date", "currency", "purchase_order_ref", "lines", "totals")
    data = {key: invoice.get(key) for key in keep}
    data["supplier"] = (invoice.get("supplier") or {}).get("external_id")
    return document_digest(data)


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    exception_type = fields.Selection(selection_add=BILL_EXCEPTION_TYPES, ondelete=BILL_EXCEPTION_ONDELETE)
    bill_payment_ids = fields.One2many("ap.bill.payment", "staging_id", string="BILL Payments", readonly=True)
    approval_evidence_id = fields.Many2one(
        "ir.attachment",
        readonly=True,
        copy=False,
        help="The bill and its approvers as BILL answered just before the Odoo bill was created.",
    )

    def _is_bill(self):
        return self.platform_id.provider == "bill"

    # ------------------------------------------------------------------ pipeline
    @api.model
    def _get_processing_steps(self):
        steps = super()._get_processing_steps()
        names = [name for name, _method, _state in steps]
        at = names.index("match_vendor") if "match_vendor" in names else len(steps)
        return steps[:at] + [("bill_vendor", "_step_bill_vendor", "validated")] + steps[at:]

    def _step_bill_vendor(self):
        """BILL bills name the vendor by id only: without a vendor mapping, read the BILL vendor for its tax id."""
        if not self._is_bill() or self.partner_id or self.supplier_vat or not self.supplier_external_id:
            return None
        if self._vendor_by_mapping():
            return None
        try:
            vendor = self.platform_id._bill_get_vendor(self.supplier_external_id, {"staging_id": self.id})
        except PlatformCallError as exc:
            # Not a stop: the vendor cascade goes on with what the bill says (vendor id, name).
            self.message_post(body=_("The BILL vendor %(id)s could not be read (%(error)s): matched without its "
                                     "tax id.", id=self.supplier_external_id, error=exc.args[0]))  # fmt: skip
            return None
        self.write({
            "supplier_vat": vendor.get("taxId") or False,
            "supplier_name": vendor.get("name") or self.supplier_name,
            "supplier_email": vendor.get("email") or self.supplier_email,
        })  # fmt: skip
        return None

    def _step_verify_approval(self):
        """BILL: an unapproved bill waits (visibly); an approved one is read again, with its approvers,
        just before the Odoo bill is created, and the approvers are kept as the approval evidence."""
        if not self._is_bill():
            return super()._step_verify_approval()
        status = (self.approval_status or "").lower()
        if status == "denied":
            return "approval_not_confirmed", _(
                "The bill was denied in BILL: it does not become an Odoo bill."
            )
        if status != "approved":
            return "approval_pending", _(
                "Waiting for approval in BILL (approvalStatus %s). BILL sends no event when a bill is approved: "
                "the scheduled pull finds the approval and processing resumes by itself.",
                (self.approval_status or "-").upper(),
            )
        platform = self.platform_id
        try:
            bill = platform._bill_get(
                f"/v3/bills/{segment(self.document_id)}", "verify_approval", {"staging_id": self.id}
            )
        except PlatformCallError as exc:
            message = _("The approval could not be confirmed in BILL: %s", exc.reason)
            if exc.transient:  # BILL cannot answer now: the record waits and is tried again
                return "approval_not_confirmed", message, exc.retry_after or True
            return "approval_not_confirmed", message
        current = platform._bill_invoice(bill)
        if current["approval"]["status"] != "approved":
            kind = (
                "approval_not_confirmed" if current["approval"]["status"] == "denied" else "approval_pending"
            )
            return kind, _(
                "BILL now says the approval status is %s.", str(bill.get("approvalStatus")).upper()
            )
        same = bill.get("updatedTime") == self.platform_updated_at or _significant(current) == _significant(
            self.document_json or {}
        )
        if not same:
            return "approval_not_confirmed", _(
                "The bill changed in BILL since it was received (updatedTime %(new)s, received %(old)s).",
                new=bill.get("updatedTime") or "-",
                old=self.platform_updated_at or "-",
            )
        self._bill_keep_evidence(bill, current)
        return None

    def _bill_keep_evidence(self, bill, current):
        approvers = current["approval"].get("approvers") or []
        evidence = {
            "source": "GET /v3/bills/{billId}",
            "read_at": fields.Datetime.now().isoformat(),
            "billId": bill.get("id"),
            "approvalStatus": bill.get("approvalStatus"),
            "updatedTime": bill.get("updatedTime"),
            "approvers": bill.get("approvers") or [],
        }
        record = self.env["ir.attachment"].sudo().create({
            "name": f"bill-approval-{self.document_id}.json",
            "raw": bill_mapping.dumps(evidence).encode(),
            "mimetype": "application/json",
            "res_model": self._name,
            "res_id": self.id,
        })  # fmt: skip
        self.write({
            "approval_evidence_id": record.id,
            "approved_at": current["approval"].get("approved_at") or self.approved_at,
            "approvers": "\n".join(
                " / ".join(str(a[key]) for key in ("name", "email", "role") if a.get(key)) for a in approvers
            ) or self.approvers,
        })  # fmt: skip
        self.env["ap.sync.exception"].sudo().search([
            ("staging_id", "=", self.id), ("state", "in", OPEN_STATES),
            ("exception_type", "in", ("approval_pending", "approval_not_confirmed")),
        ])._resolve(_("Approved in BILL."), self.env.ref("base.user_root"))  # fmt: skip
        self.message_post(
            body=_("Approval confirmed in BILL (%(n)s approver(s)) just before billing.", n=len(approvers))
        )

    # ------------------------------------------------------------------ payments
    def _bill_rounding(self):
        return Decimal(str(self.currency_id.rounding or 0.01))

    def _bill_amount_to_record(self):
        """What Odoo paid on the bill and BILL does not know yet: paid in Odoo, minus what came from BILL,
        minus what was already recorded in BILL."""
        move = self.move_id
        if not move or move.state != "posted":
            return Decimal(0)
        paid = Decimal(str(move.amount_total)) - Decimal(str(move.amount_residual))
        rows = self.bill_payment_ids.filtered(lambda p: p.state == "registered")
        from_bill = sum((Decimal(str(p.amount)) for p in rows if p.direction == "bill"), Decimal(0))
        recorded = sum((Decimal(str(p.amount)) for p in rows if p.direction == "odoo"), Decimal(0))
        return (paid - from_bill - recorded).quantize(self._bill_rounding())

    def _bill_flag(self, kind, reason):
        self.ensure_one()
        self._flag(reason, kind=kind)


class ApSyncException(models.Model):
    _inherit = "ap.sync.exception"

    exception_type = fields.Selection(
        selection_add=BILL_EXCEPTION_TYPES, ondelete=dict.fromkeys(BILL_EXCEPTION_ONDELETE, "cascade")
    )

    @api.model
    def _get_flag_types(self):
        """A payment problem flags a billed record; it never stops (nor reruns) processing."""
        return tuple(super()._get_flag_types()) + PAYMENT_FLAG_TYPES

    @api.model
    def _get_severity(self, kind):
        return "high" if kind in PAYMENT_FLAG_TYPES else super()._get_severity(kind)

    def _notify_assignee(self):
        """A bill waiting for its approvers in BILL needs nobody in Odoo yet: no activity for that wait."""
        return super(
            ApSyncException, self.filtered(lambda r: r.exception_type != "approval_pending")
        )._notify_assignee()
