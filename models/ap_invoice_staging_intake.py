"""Intake: a platform document becomes a staging record, or updates the one it already has.

One record per (platform, document id). A new version changes the record while no bill exists; once
a bill exists it only flags the record for review. A withdrawal (voided, deleted) cancels it, or flags
it when already billed. Called from ``ap.sync.event`` (webhook, pull), never from the pipeline."""

from psycopg2 import errors as pg_errors

from odoo import _, api, models

from ..utils import orm
from .ap_invoice_staging import BILLED_STATES, FINAL_STATES, STATES, document_digest, to_decimal
from .ap_sync_event import ConcurrentIntake


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    # ------------------------------------------------------------------ intake
    @api.model
    def _prepare_from_document(self, data):
        """Field values of a staging record from a canonical invoice (schema 1.0)."""
        supplier = data.get("supplier") or {}
        company = data.get("company") or {}
        preceding = data.get("preceding_invoice") or {}
        totals = data.get("totals") or {}
        approval = data.get("approval") or {}
        Currency = self.env["res.currency"].with_context(active_test=False)
        # Found and read in one query: the fields its first read (rounding the amounts) fetches anyway.
        currency = Currency.search_fetch(
            [("name", "=", data.get("currency"))], orm.prefetch_fields(Currency), limit=1
        )
        stored_document = dict(data)
        if stored_document.get("attachments"):
            stored_document["attachments"] = [
                {key: value for key, value in item.items() if key != "content_base64"}
                | {"size_base64": len(item.get("content_base64") or "")}
                for item in stored_document["attachments"]
                if isinstance(item, dict)
            ]
        approvers = approval.get("approvers") or []

        def amount(value):
            number = to_decimal(value)
            return float(number) if number is not None else 0.0

        return {
            "document_id": data["id"],
            "document_type": data.get("document_type") or "invoice",
            "number": data.get("number"),
            "issue_date": data.get("issue_date") or False,
            "due_date": data.get("due_date") or False,
            "platform_updated_at": data.get("updated_at") or False,
            "currency_code": data.get("currency"),
            "currency_id": currency.id or False,
            "supplier_external_id": supplier.get("external_id") or False,
            "supplier_name": supplier.get("name") or False,
            "supplier_vat": supplier.get("vat") or False,
            "supplier_iban": supplier.get("iban") or False,
            "supplier_email": supplier.get("email") or False,
            "company_external_id": company.get("external_id") or False,
            "company_vat": company.get("vat") or False,
            "purchase_order_ref": data.get("purchase_order_ref") or False,
            "receipt_ref": data.get("receipt_ref") or False,
            "preceding_invoice_number": preceding.get("number") or False,
            "preceding_invoice_date": preceding.get("issue_date") or False,
            "payment_reference": data.get("payment_reference") or False,
            "amount_net": amount(totals.get("net")),
            "amount_tax": amount(totals.get("tax")),
            "amount_gross": amount(totals.get("gross")),
            "amount_payable": amount(totals.get("payable") or totals.get("gross")),
            "approval_status": approval.get("status"),
            "approved_at": approval.get("approved_at") or False,
            "approvers": "\n".join(
                " / ".join(str(a.get(key)) for key in ("name", "email", "role") if a.get(key))
                for a in approvers
                if isinstance(a, dict)
            )
            or False,
            "document_json": stored_document,
            "document_sha256": document_digest(data),
            "line_ids": [(5, 0, 0)]
            + [
                (0, 0, self.env["ap.invoice.staging.line"]._prepare_from_line(line, index))
                for index, line in enumerate(data.get("lines") or [])
            ],
        }

    @api.model
    def _intake_invoice(self, event, data):
        """Create or update the staging record of ``data`` (an approved canonical invoice)."""
        platform = event.platform_id
        staging = self.search([("platform_id", "=", platform.id), ("document_id", "=", data["id"])], limit=1)
        values = self._prepare_from_document(data)
        values.update(
            event_id=event.webhook_id,
            payload_attachment_id=event.payload_attachment_id.id,
            payload_sha256=event.payload_sha256,
        )
        if not staging:
            # No chatter work at intake: no creation message, follower or tracking (a webhook per invoice).
            Staging = self.with_context(tracking_disable=True)
            # The lines go in one INSERT of their own after the record's (_intake_insert), with the
            # company as their related field computes it.
            line_values = [command[2] for command in values.pop("line_ids") if command[0] == 0]
            values.update(
                platform_id=platform.id,
                company_id=platform.company_id.id,
                name=self.env["ir.sequence"]._ap_sync_next_by_code("ap.invoice.staging") or "/",
                state="received",
            )
            values["priority"] = self._get_priority_of_values(values)
            try:  # no savepoint: see ap.sync.event._store (the caller rolls back on ConcurrentIntake)
                staging = Staging.create(values).with_env(self.env)
            except pg_errors.UniqueViolation as exc:
                raise ConcurrentIntake(data["id"]) from exc
            # The priority was given as its computation gives it: Odoo need not compute it again when
            # the record is flushed.
            self.env.remove_to_compute(self._fields["priority"], staging)
            self.env["ap.invoice.staging.line"]._intake_insert(staging, line_values)
            event._mark("applied", staging=staging)
            return staging
        return staging._intake_new_version(event, data, values)

    def _intake_new_version(self, event, data, values):
        """A document already staged arrives again under another message id."""
        self.ensure_one()
        if values["document_sha256"] == self.document_sha256:
            event._mark("unchanged", _("Same document content as %s.", self.name), staging=self)
            return self
        incoming, stored = data.get("updated_at"), self.platform_updated_at
        if incoming and stored and incoming < stored:
            event._mark(
                "stale", _("Older than the version stored (%(a)s < %(b)s).", a=incoming, b=stored), self
            )
            return self
        if self.move_id or self.state in BILLED_STATES:
            reason = _(
                "The platform sent a changed version of %(doc)s (message %(msg)s) after bill %(bill)s was created: "
                "the bill was left as it is.",
                doc=self.number or self.document_id,
                msg=event.webhook_id,
                bill=self.move_id.display_name or "-",
            )
            event._mark("flagged", reason, staging=self)
            self._flag(reason)
            return self
        if self.state in FINAL_STATES:
            reason = _("A new version of %s arrived after it was cancelled: not applied.", self.document_id)
            event._mark("flagged", reason, staging=self)
            self._flag(reason)
            return self
        old_state = self.state
        values.update(state="received", processing_step=False, exception_reason=False, state_reason=False)
        self.write(values)
        self.message_post(
            body=_(
                "Updated by a new version from the platform (message %(msg)s); it was %(state)s. Processing restarts.",
                msg=event.webhook_id,
                state=dict(STATES)[old_state],
            )
        )
        event._mark("applied", staging=self)
        return self

    @api.model
    def _intake_withdrawal(self, event, data):
        """invoice.rejected / invoice.voided: cancel without a bill, flag with one."""
        staging = self.search(
            [("platform_id", "=", event.platform_id.id), ("document_id", "=", data["id"])], limit=1
        )
        kind = _("rejected") if event.event_type == "invoice.rejected" else _("voided")
        reason = data.get("reason") or _("no reason given")
        if not staging:
            event._mark(
                "ignored", _("No staged document %(doc)s to mark %(kind)s.", doc=data["id"], kind=kind)
            )
            return staging
        if staging.move_id or staging.state in BILLED_STATES:
            message = _(
                "The platform %(kind)s %(doc)s after bill %(bill)s was created (reason: %(reason)s). "
                "The bill was left untouched: review it.",
                kind=kind,
                doc=staging.number or staging.document_id,
                bill=staging.move_id.display_name or "-",
                reason=reason,
            )
            event._mark("flagged", message, staging=staging)
            staging._flag(message, kind="voided_after_billing")
            return staging
        if staging.state == "cancelled":
            event._mark("unchanged", _("Already cancelled."), staging=staging)
            return staging
        staging._set_state("cancelled", _("The platform %(kind)s it: %(reason)s", kind=kind, reason=reason))
        staging.message_post(
            body=_("Cancelled: the platform %(kind)s the document (%(reason)s).", kind=kind, reason=reason)
        )
        event._mark("applied", staging=staging)
        return staging
