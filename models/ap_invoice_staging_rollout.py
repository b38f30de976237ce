"""Governance of staging records: protected evidence, rollout scope, shadow mode, re-approval.

* Evidence cannot be forged: outside the module's own code (superuser), nobody writes a staging
  record's fields but its chatter and activities; and every state change, whoever makes it, goes
  through the state map (``_write_state`` marks the writes it checked).
* Rollout scope: a document outside its platform's live companies or document kinds waits as
  *out of scope* (not an exception) until the scope widens.
* Shadow mode: every step runs; the outcome (the bill it would create, or the exception) is recorded
  on the record, which waits as *shadow run*. No bill, no queue item, nothing sent.
* Re-approval: a new approved version of a document whose bill is still a draft replaces the
  approved evidence, against which the posting gate compares the bill.
"""

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..utils.access import check_manager
from . import (  # noqa: F401  (extended here: this file overrides their methods)
    ap_invoice_staging_intake,
    ap_invoice_staging_status,
    ap_invoice_staging_steps,
)

# Fields people may write through the ORM (forms, RPC) on a staging record: none but the mail ones.
USER_WRITABLE_PREFIXES = ("message_", "activity_")
STATE_CHECKED = "ap_sync_state_checked"
# Evidence replaced by a new approved version while the bill is a draft.
REAPPROVAL_FIELDS = (
    "approval_status", "approved_at", "approvers", "document_json", "document_sha256", "amount_net",
    "amount_tax", "amount_gross", "amount_payable", "currency_id", "currency_code", "issue_date", "due_date",
    "number", "payment_reference", "event_id", "payload_attachment_id", "payload_sha256",
)  # fmt: skip


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    shadow_outcome = fields.Selection(
        [("bill", "Would create a bill"), ("exception", "Would stop with an exception")],
        readonly=True,
        index=True,
        help="Shadow mode: what processing would have done.",
    )
    shadow_result = fields.Json(
        readonly=True, help="Shadow mode: the bill it would create, or the exception."
    )
    shadow_summary = fields.Text(compute="_compute_shadow_summary", string="What It Would Do")
    shadow_date = fields.Datetime(readonly=True, string="Rehearsed On")
    is_po_backed = fields.Boolean(compute="_compute_is_po_backed", string="PO-backed")

    @api.depends("purchase_order_ref", "line_ids")
    def _compute_is_po_backed(self):
        for record in self:
            record.is_po_backed = record._is_po_backed()

    def _is_po_backed(self):
        lines = (self.document_json or {}).get("lines") or []
        return bool(
            self.purchase_order_ref
            or any(line.get("po_line_ref") for line in lines if isinstance(line, dict))
        )

    @api.depends("shadow_result", "shadow_outcome")
    def _compute_shadow_summary(self):
        for record in self:
            result = record.shadow_result or {}
            if record.shadow_outcome == "bill":
                record.shadow_summary = _(
                    "Bill for %(vendor)s: untaxed %(untaxed)s, tax %(tax)s, total %(total)s %(currency)s "
                    "(%(lines)s lines, journal %(journal)s).",
                    vendor=result.get("vendor"), untaxed=result.get("amount_untaxed"), tax=result.get("amount_tax"),
                    total=result.get("amount_total"), currency=result.get("currency"),
                    lines=len(result.get("lines") or []), journal=result.get("journal"),
                )  # fmt: skip
            elif record.shadow_outcome == "exception":
                record.shadow_summary = _(
                    "Exception %(type)s at step %(step)s: %(message)s",
                    type=result.get("exception_type"), step=result.get("step"), message=result.get("message"),
                )  # fmt: skip
            else:
                record.shadow_summary = False

    # ------------------------------------------------------------------ protected evidence
    def write(self, vals):
        if not self.env.su:
            forged = sorted(name for name in vals if not name.startswith(USER_WRITABLE_PREFIXES))
            if forged:
                raise UserError(
                    _(
                        "The fields of a platform document are set by the module only (its state through the "
                        "state map, its bill, digest and approval evidence from the platform): %s cannot be "
                        "written directly.",
                        ", ".join(forged),
                    )
                )
        if "state" in vals and not self.env.context.get(STATE_CHECKED):
            for record in self:
                record._check_transition(record.state, vals["state"])
        return super().write(vals)

    def _write_state(self, state, reason=None, step=None, exception_type=None):
        shadow = self.filtered(lambda r: r.platform_id.shadow_mode) if state == "exception" else self.browse()
        if shadow:
            shadow._record_shadow(
                "exception", {"exception_type": exception_type, "step": step, "message": reason}, step=step
            )
        rest = (self - shadow).with_context(**{STATE_CHECKED: True})
        if rest:
            return super(ApInvoiceStaging, rest)._write_state(
                state, reason=reason, step=step, exception_type=exception_type
            )

    def _requeue(self, note):
        """Back to received, from the start of the pipeline; the processing cron picks them up."""
        if not self:
            return
        for record in self:
            record._check_transition(record.state, "received")
        self.with_context(**{STATE_CHECKED: True}).write({"state": "received", "processing_step": False})
        for record in self:
            record.message_post(body=note)
        self.env.ref("account_ap_sync.ir_cron_ap_sync_process").sudo()._trigger()

    # ------------------------------------------------------------------ rollout scope
    @api.model
    def _get_processing_steps(self):
        steps = super()._get_processing_steps()
        names = [name for name, _method, _state in steps]
        at = names.index("route_company") + 1 if "route_company" in names else 1
        return steps[:at] + [("check_scope", "_step_check_scope", "validated")] + steps[at:]

    def _get_scope_problem(self):
        """Why the document is outside its platform's rollout scope, or False."""
        self.ensure_one()
        platform = self.platform_id
        if platform.scope_company_ids and self.company_id not in platform.scope_company_ids:
            return _("Company %s is not live on this platform yet.", self.company_id.display_name)
        if self.document_type == "credit_note" and not platform.scope_credit_notes:
            return _("Credit notes are not live on this platform yet.")
        if self.document_type != "credit_note" and not platform.scope_invoices:
            return _("Invoices are not live on this platform yet.")
        po_backed = self._is_po_backed()
        if po_backed and not platform.scope_po_backed:
            return _("PO-backed documents are not live on this platform yet.")
        if not po_backed and not platform.scope_non_po:
            return _("Documents without a purchase order are not live on this platform yet.")
        return False

    def _step_check_scope(self):
        problem = self._get_scope_problem()
        if problem:
            self._set_state("out_of_scope", step="check_scope")
            self.write({"state_reason": problem})

    # ------------------------------------------------------------------ shadow mode
    def _record_shadow(self, outcome, result, step=None):
        for record in self:
            record._check_transition(record.state, "shadow")
        values = {"state": "shadow", "shadow_outcome": outcome, "shadow_result": result,
                  "shadow_date": fields.Datetime.now(), "exception_reason": False}  # fmt: skip
        if "exception_type" in self._fields:
            values["exception_type"] = False
        if step is not None:
            values["processing_step"] = step
        self.with_context(**{STATE_CHECKED: True}).write(values)

    def _step_verify_approval(self):
        if not self.platform_id.shadow_mode:
            return super()._step_verify_approval()
        # Shadow mode asks nothing of the platform: only the approval as received is checked.
        if (self.approval_status or "").lower() != "approved":
            return "approval_not_confirmed", _(
                "The approval status is %s, not approved.", self.approval_status or "-"
            )
        return None

    def _step_create_bill(self):
        if not self.platform_id.shadow_mode or self.move_id:
            had_bill = self.move_id
            problem = super()._step_create_bill()
            move = self.move_id
            if (
                not problem
                and move
                and not had_bill
                and move.ap_created_partner_bank_id != move.partner_bank_id
            ):
                # The bank account the bill was made with (given at creation, see _prepare_bill_values;
                # written again only if Odoo chose another one): the posting gate compares with it when
                # the document names none.
                move.sudo().write({"ap_created_partner_bank_id": move.partner_bank_id.id})
            return problem
        # The bill is built to know exactly what it would be, then removed (no bill is kept).
        problem = super()._step_create_bill()
        if problem:
            return problem
        move = self.move_id
        result = self._describe_bill(move)
        result["approval_checked_with_platform"] = False
        self.write({"move_id": False})
        move.unlink()
        self._record_shadow("bill", result, step="create_bill")
        return None

    def _prepare_bill_values(self):
        values = super()._prepare_bill_values()
        values.setdefault("ap_created_partner_bank_id", values.get("partner_bank_id") or False)
        return values

    def _describe_bill(self, move):
        return {
            "vendor": move.partner_id.display_name,
            "vendor_id": move.partner_id.id,
            "bank_account": move.partner_bank_id.acc_number or None,
            "move_type": move.move_type,
            "journal": move.journal_id.display_name,
            "currency": move.currency_id.name,
            "reference": move.ref,
            "invoice_date": str(move.invoice_date or ""),
            "amount_untaxed": move.amount_untaxed,
            "amount_tax": move.amount_tax,
            "amount_total": move.amount_total,
            "purchase_order": self.purchase_order_id.name or None,
            "lines": [
                {"description": line.name, "account": line.account_id.display_name, "quantity": line.quantity,
                 "price_unit": line.price_unit, "taxes": line.tax_ids.mapped("name"),
                 "purchase_line": line.purchase_line_id.display_name or None}
                for line in move.invoice_line_ids
            ],
        }  # fmt: skip

    def _after_bill_created(self):
        # Auto-post is the one way the integration user may post (when every check passed).
        return super(ApInvoiceStaging, self.with_context(ap_sync_auto_post=True))._after_bill_created()

    def _enqueue_erp_status(self, status, message=None):
        # Shadow mode sends nothing to the platform, not even a rejection.
        return super(
            ApInvoiceStaging, self.filtered(lambda r: not r.platform_id.shadow_mode)
        )._enqueue_erp_status(status, message=message)

    def action_process_shadow_now(self):
        """Manager: process rehearsed documents for real now (their platform left shadow mode)."""
        check_manager(self.env, _("Only an AP Sync manager may process rehearsed documents for real."))
        records = self.sudo().filtered(lambda r: r.state in ("shadow", "out_of_scope"))
        blocked = records.filtered(
            lambda r: r.platform_id.shadow_mode if r.state == "shadow" else r._get_scope_problem()
        )
        if blocked:
            raise UserError(
                _("Still in shadow mode or out of scope: %s", ", ".join(blocked.mapped("display_name")))
            )
        records._requeue(_("Processed for real by %s.", self.env.user.name))
        return True

    # ------------------------------------------------------------------ re-approval
    def _intake_new_version(self, event, data, values):
        self.ensure_one()
        move = self.move_id
        incoming, stored = data.get("updated_at"), self.platform_updated_at
        approval = data.get("approval") or {}
        approved = (approval.get("status") or "").lower() == "approved"
        # Re-approved: approved again, later than the approval on record (a change without a new approval
        # is only flagged, as before).
        reapproved = approved and (approval.get("approved_at") or "") > (self.approved_at or "")
        if (
            not move
            or move.state != "draft"
            or not reapproved
            or values["document_sha256"] == self.document_sha256
            or (incoming and stored and incoming < stored)
        ):
            return super()._intake_new_version(event, data, values)
        before = (self.amount_net, self.amount_gross, self.approved_at)
        evidence = {key: values[key] for key in REAPPROVAL_FIELDS if key in values}
        evidence["platform_updated_at"] = data.get("updated_at") or self.platform_updated_at
        self.sudo().write(evidence)
        note = _(
            "Re-approved by the platform (message %(msg)s): the approved document is now untaxed %(net)s, total "
            "%(gross)s (was %(old_net)s / %(old_gross)s), approved at %(at)s. The bill stays a draft; posting "
            "compares it with this version.",
            msg=event.webhook_id, net=self.amount_net, gross=self.amount_gross, old_net=before[0],
            old_gross=before[1], at=self.approved_at or "-",
        )  # fmt: skip
        move.message_post(body=note)
        event._mark("applied", note, staging=self)
        self._flag(note)  # a person adjusts the bill to the new version (the posting gate waits for it)
        return self
