"""The staging record: one invoice or credit note of a platform, its fields, states and state map.

``ap.invoice.staging`` is built from several files, one concern each (``models/__init__.py`` imports
them in this order):

* ``ap_invoice_staging.py``: the model, its fields, the state map and the state writes;
* ``ap_invoice_staging_intake.py``: a platform document becomes a record (new versions, withdrawals);
* ``ap_invoice_staging_engine.py``: claiming, the cron, bounded transactions, running the steps;
* ``ap_invoice_staging_steps.py``: the pipeline's steps, from validation to the bill;
* ``ap_invoice_staging_status.py``: what goes back to the platform (erp-status, rejection).

Then the extensions: ``_ops`` (priority, metrics), ``_rollout`` (governance), ``_bill`` (BILL provider).
"""

import hashlib
import json
from decimal import Decimal, InvalidOperation

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

STATES = [
    ("received", "Received"),
    ("validated", "Validated"),
    ("matched", "Matched"),
    ("bill_created", "Bill Created"),
    ("posted", "Posted"),
    ("paid", "Paid"),
    ("exception", "Exception"),
    ("rejected", "Rejected"),
    ("cancelled", "Cancelled"),
    ("duplicate", "Duplicate"),
    ("out_of_scope", "Out of Scope"),
    ("shadow", "Shadow Run"),
]
# The state map: where each state may go. Anything else is refused (no silent move backwards).
STATE_TRANSITIONS = {
    "received": {"validated", "exception", "rejected", "cancelled", "duplicate"},
    "validated": {"matched", "exception", "rejected", "cancelled", "received"},
    "matched": {"bill_created", "exception", "rejected", "cancelled", "received"},
    "bill_created": {"posted", "paid"},
    "posted": {"paid", "bill_created"},
    "paid": {"posted"},
    "exception": {"received", "validated", "matched", "bill_created", "rejected", "cancelled", "duplicate"},
    "rejected": {"received"},
    "cancelled": set(),
    "duplicate": {"received"},
    # Governance (issue 14): outside the rollout scope, or rehearsed in shadow mode; both wait to be
    # processed for real (back to received) and may still be cancelled by the platform.
    "out_of_scope": {"received", "cancelled"},
    "shadow": {"received", "cancelled"},
}
for _state in ("received", "validated", "exception"):
    STATE_TRANSITIONS[_state] |= {"out_of_scope", "shadow"}
STATE_TRANSITIONS["matched"] |= {"shadow"}
# Why a record stopped (exception_type); providers add theirs with selection_add.
EXCEPTION_TYPES = [
    ("schema", "Schema"),
    ("arithmetic", "Arithmetic"),
    ("unknown_company", "Unknown company"),
    ("unknown_vendor", "Unknown vendor"),
    ("ambiguous_vendor", "Ambiguous vendor"),
    ("bank_account_change", "Bank account change"),
    ("tax_mapping", "Tax mapping"),
    ("account_mapping", "Account mapping"),
    ("currency", "Currency"),
    ("po_not_found", "PO not found"),
    ("price_variance", "Price variance"),
    ("quantity_variance", "Quantity variance"),
    ("receipt_missing", "Receipt missing"),
    ("preceding_invoice", "Preceding invoice"),
    ("possible_duplicate", "Possible duplicate"),
    ("approval_not_confirmed", "Approval not confirmed"),
    ("changed_after_billing", "Changed after billing"),
    ("voided_after_billing", "Voided after billing"),
    ("delivery_failed", "Delivery failed"),
]
# Exception types that flag a record (or a message) without stopping its processing.
FLAG_TYPES = ("changed_after_billing", "voided_after_billing", "delivery_failed")
# States of an exception-queue item still waiting for a person (imported as ap_sync_exception.OPEN_STATES;
# defined here, like FLAG_TYPES, because the exception model imports this file).
OPEN_STATES = ("open", "in_progress")
# States in which the document has a bill: an upstream change is flagged, never applied.
BILLED_STATES = {"bill_created", "posted", "paid"}
FINAL_STATES = {"cancelled"}


def to_decimal(value):
    """Decimal of a contract decimal string (None for anything else)."""
    if value is None or isinstance(value, float):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def document_digest(data):
    """sha256 of the document content, independent of key order and envelope."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ApInvoiceStaging(models.Model):
    """An invoice or credit note received from a platform, before and after it becomes a bill."""

    _name = "ap.invoice.staging"
    _description = "AP Invoice Staging"
    _inherit = ["mail.thread", "mail.activity.mixin", "ap.sync.input.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(string="Reference", required=True, readonly=True, copy=False, default="/")
    platform_id = fields.Many2one(
        "ap.platform", required=True, readonly=True, index=True, ondelete="restrict"
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    event_id = fields.Char(
        string="Last Message ID", readonly=True, help="webhook-id of the event that last set it."
    )
    event_ids = fields.One2many("ap.sync.event", "staging_id", string="Events", readonly=True)
    document_id = fields.Char(string="Platform Document ID", required=True, readonly=True, index=True)
    document_type = fields.Selection(
        [("invoice", "Invoice"), ("credit_note", "Credit Note")],
        required=True,
        readonly=True,
        default="invoice",
    )
    number = fields.Char(
        string="Vendor Reference", readonly=True, index=True, help="BT-1: the vendor's invoice number."
    )
    issue_date = fields.Date(readonly=True)
    due_date = fields.Date(readonly=True)
    platform_updated_at = fields.Char(string="Updated at (platform)", readonly=True)
    currency_code = fields.Char(readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    # Supplier as received
    supplier_external_id = fields.Char(readonly=True)
    supplier_name = fields.Char(readonly=True)
    supplier_vat = fields.Char(string="Supplier VAT", readonly=True)
    supplier_iban = fields.Char(string="Supplier IBAN", readonly=True)
    supplier_email = fields.Char(readonly=True)
    company_external_id = fields.Char(readonly=True)
    company_vat = fields.Char(readonly=True)
    purchase_order_ref = fields.Char(string="PO Reference", readonly=True)
    receipt_ref = fields.Char(string="Receipt Reference", readonly=True)
    preceding_invoice_number = fields.Char(readonly=True)
    preceding_invoice_date = fields.Date(readonly=True)
    payment_reference = fields.Char(readonly=True)
    amount_net = fields.Monetary(currency_field="currency_id", readonly=True)
    amount_tax = fields.Monetary(currency_field="currency_id", readonly=True)
    amount_gross = fields.Monetary(currency_field="currency_id", readonly=True)
    amount_payable = fields.Monetary(currency_field="currency_id", readonly=True)
    # Approval evidence
    approval_status = fields.Char(readonly=True, tracking=True)
    approved_at = fields.Char(string="Approved at (platform)", readonly=True)
    approvers = fields.Text(readonly=True, help="Approvers as given by the platform: name, email, role.")
    # Payload
    document_json = fields.Json(
        string="Document", readonly=True, help="The canonical document as received, file contents left out."
    )
    document_sha256 = fields.Char(string="Document SHA-256", readonly=True, index=True)
    payload_attachment_id = fields.Many2one("ir.attachment", string="Raw Payload", readonly=True)
    payload_sha256 = fields.Char(string="Payload SHA-256", readonly=True)
    line_ids = fields.One2many("ap.invoice.staging.line", "staging_id", string="Lines", readonly=True)
    line_count = fields.Integer(compute="_compute_line_count")
    # Process
    state = fields.Selection(
        STATES, required=True, default="received", readonly=True, index=True, tracking=True
    )
    processing_step = fields.Char(readonly=True, help="The step processing stopped at, or resumes from.")
    exception_reason = fields.Text(readonly=True, tracking=True)
    attention_required = fields.Boolean(
        string="Needs Review",
        readonly=True,
        index=True,
        tracking=True,
        help="An upstream change or withdrawal arrived after the bill was created: a person must decide.",
    )
    attention_reason = fields.Text(string="Review Reason", readonly=True)
    state_reason = fields.Text(
        readonly=True, help="Why the record was rejected, cancelled or marked duplicate."
    )
    # Links
    partner_id = fields.Many2one(
        "res.partner", string="Vendor", readonly=True, check_company=True, index=True
    )
    purchase_order_id = fields.Many2one("purchase.order", readonly=True, check_company=True, index=True)
    move_id = fields.Many2one(
        "account.move", string="Bill", readonly=True, check_company=True, index=True, copy=False
    )
    sync_log_ids = fields.One2many("ap.sync.log", "staging_id", readonly=True)
    # A platform call that failed for now (timeout, 503...): the record waits and is tried again.
    platform_retry_count = fields.Integer(
        readonly=True, copy=False, help="Platform calls that failed for now in a row (reset on success)."
    )
    platform_retry_at = fields.Datetime(
        string="Next Try", readonly=True, copy=False, index="btree_not_null",
        help="A platform call failed for now: processing tries again from this time.",
    )  # fmt: skip
    exception_type = fields.Selection(EXCEPTION_TYPES, readonly=True, index=True, tracking=True)
    vendor_candidate_ids = fields.Many2many(
        "res.partner",
        string="Candidate Vendors",
        readonly=True,
        help="Partners that matched, when ambiguous.",
    )
    vendor_match_rule = fields.Char(readonly=True, help="The rule of the cascade that found the vendor.")
    partner_bank_id = fields.Many2one("res.partner.bank", string="Vendor Bank Account", readonly=True)
    reversed_move_id = fields.Many2one("account.move", string="Credit Note For", readonly=True)
    duplicate_override_reason = fields.Text(readonly=True, tracking=True)
    duplicate_override_uid = fields.Many2one("res.users", string="Duplicate Override By", readonly=True)
    variance_override_reason = fields.Text(readonly=True, tracking=True)
    variance_override_uid = fields.Many2one("res.users", string="Variance Accepted By", readonly=True)

    _sql_constraints = [
        (
            "platform_document_uniq",
            "unique(platform_id, document_id)",
            "A platform document is staged once: later versions update the same record.",
        ),
    ]

    @api.depends("line_ids")
    def _compute_line_count(self):
        for record in self:
            record.line_count = len(record.line_ids)

    def _compute_display_name(self):
        for record in self:
            label = record.number or record.document_id
            record.display_name = f"{record.name} ({label})" if label else record.name

    # ------------------------------------------------------------------ state map
    def _set_state(self, state, reason=None, step=None, exception_type=None):
        """Move to ``state`` if the state map allows it; a refused move raises (never silent)."""
        for record in self:
            record._check_transition(record.state, state)
        self._write_state(state, reason=reason, step=step, exception_type=exception_type)

    def _write_state(self, state, reason=None, step=None, exception_type=None):
        """Write a state already checked against the state map (see ``_set_state``)."""
        recovered = self.filtered(lambda r: r.state == "exception") if state != "exception" else self.browse()
        values = {"state": state, "exception_reason": reason if state == "exception" else False}
        if "exception_type" in self._fields:
            values["exception_type"] = exception_type if state == "exception" else False
        if step is not None:
            values["processing_step"] = step
        if state in ("rejected", "cancelled", "duplicate"):
            values["state_reason"] = reason
        self.write(values)
        self._sync_exceptions(state, reason, exception_type, recovered)

    def _sync_exceptions(self, state, reason, exception_type, recovered):
        """Open the queue item of a stopped record; close it when the record moves on."""
        Exception_ = self.env["ap.sync.exception"]
        if state == "exception" and exception_type:
            # Stopped at another problem than before: the earlier item is behind it now.
            moved_on = Exception_.sudo().search([
                ("staging_id", "in", self.ids), ("state", "in", OPEN_STATES),
                ("exception_type", "not in", (exception_type, *FLAG_TYPES)),
            ])  # fmt: skip
            moved_on._resolve(_("Processing went past this problem."), self.env.ref("base.user_root"))
            for record in self:
                Exception_._raise_for(exception_type, reason, staging=record)
        if recovered:
            Exception_.sudo().search(
                [("staging_id", "in", recovered.ids), ("state", "in", OPEN_STATES)]
            )._resolve(
                _("Processing went on: the record is now %s.", dict(STATES)[state]),
                self.env.ref("base.user_root"),
            )

    @api.model
    def _get_state_transitions(self):
        """The state map: state -> states it may go to (overridable; a module adding a state adds its moves)."""
        return {state: set(targets) for state, targets in STATE_TRANSITIONS.items()}

    def _check_transition(self, old, new):
        labels = dict(self._fields["state"]._description_selection(self.env))
        if new not in labels:
            raise ValidationError(_("%(state)r is not a valid state of a staged document.", state=new))
        if old != new and new not in self._get_state_transitions().get(old, ()):
            raise UserError(
                _(
                    "%(ref)s cannot go from %(old)s to %(new)s.",
                    ref=self.name,
                    old=labels.get(old, old),
                    new=labels[new],
                )
            )

    def _flag(self, reason, kind="changed_after_billing"):
        """Ask a person to look (upstream change after billing): state untouched, a queue item opened."""
        for record in self:
            record.write({"attention_required": True, "attention_reason": reason})
            record.message_post(body=reason)
            self.env["ap.sync.exception"]._raise_for(kind, reason, staging=record)

    # ------------------------------------------------------------------ actions
    def action_process(self):
        """Process the selected records now (received ones, and exceptions from their stopped step)."""
        self.check_access("write")
        self.filtered(lambda r: r.state in ("received", "exception")).sudo()._process()
        return True

    def action_retry(self):
        """Resume processing from the step that stopped (after its cause was fixed)."""
        self.check_access("write")
        records = self.filtered(lambda r: r.state == "exception")
        records.sudo()._process()
        return True

    def action_open_payload(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.payload_attachment_id.id}?download=true",
            "target": "self",
        }
