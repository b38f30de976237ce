import hashlib
import json
import logging
import time
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..utils import cron_budget
from .ap_sync_event import ConcurrentIntake

_logger = logging.getLogger(__name__)

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
# Exception types that flag a record (or a message) without stopping its processing.
FLAG_TYPES = ("changed_after_billing", "voided_after_billing", "delivery_failed")
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
                ("staging_id", "in", self.ids), ("state", "in", ("open", "in_progress")),
                ("exception_type", "not in", (exception_type, *FLAG_TYPES)),
            ])  # fmt: skip
            moved_on._resolve(_("Processing went past this problem."), self.env.ref("base.user_root"))
            for record in self:
                Exception_._raise_for(exception_type, reason, staging=record)
        if recovered:
            Exception_.sudo().search(
                [("staging_id", "in", recovered.ids), ("state", "in", ("open", "in_progress"))]
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

    # ------------------------------------------------------------------ intake
    @api.model
    def _prepare_from_document(self, data):
        """Field values of a staging record from a canonical invoice (schema 1.0)."""
        supplier = data.get("supplier") or {}
        company = data.get("company") or {}
        preceding = data.get("preceding_invoice") or {}
        totals = data.get("totals") or {}
        approval = data.get("approval") or {}
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", data.get("currency"))], limit=1)
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
            Staging = self.with_context(
                mail_create_nolog=True, mail_create_nosubscribe=True, mail_notrack=True
            )
            values.update(
                platform_id=platform.id,
                company_id=platform.company_id.id,
                name=self.env["ir.sequence"].next_by_code("ap.invoice.staging") or "/",
                state="received",
            )
            try:
                with self.env.cr.savepoint():
                    staging = Staging.create(values)
            except pg_errors.UniqueViolation as exc:
                raise ConcurrentIntake(data["id"]) from exc
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

    # ------------------------------------------------------------------ processing
    @api.model
    def _get_processing_steps(self):
        """Ordered (step name, method, state reached) of the pipeline. Later modules insert steps."""
        return [("validate", "_step_validate", "validated")]

    @api.model
    def _claim(self, states=("received",), limit=50, platforms=None):
        """Lock up to ``limit`` records to process; records locked by another worker are skipped, and
        so are records waiting to retry a platform call (``platform_retry_at`` in the future)."""
        self.flush_model(["state", "platform_retry_at"])
        query = (
            "SELECT id FROM ap_invoice_staging WHERE state IN %s"
            " AND (platform_retry_at IS NULL OR platform_retry_at <= now() at time zone 'utc')"
        )
        params = [tuple(states)]
        if platforms is not None:
            query += " AND platform_id IN %s"
            params.append(tuple(platforms.ids) or (0,))
        self.env.cr.execute(
            query + " ORDER BY priority DESC, id LIMIT %s FOR UPDATE SKIP LOCKED", [*params, limit]
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _get_group_size(self):
        """Records processed (and committed) together: as many as the platform calls sent at once."""
        self.env.cr.execute("SELECT max(max_concurrent_calls) FROM ap_platform WHERE active")
        return max(1, min(self.env.cr.fetchone()[0] or 1, 20))

    def _commit_batch(self):
        """Commit the group just processed (inside a cron run only; see utils/cron_budget.commit)."""
        cron_budget.commit(self.env)

    @api.model
    def _count_waiting(self):
        self.flush_model(["state", "platform_retry_at"])
        self.env.cr.execute(
            """SELECT count(*) FROM ap_invoice_staging WHERE state = 'received'
                  AND (platform_retry_at IS NULL OR platform_retry_at <= now() at time zone 'utc')"""
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _cron_process(self, batch_size=500):
        """Scheduled action: process received records in small groups, one transaction per group.

        Each group (as many records as the platform takes calls at once) is claimed with SKIP LOCKED,
        processed (its approval checks sent concurrently, see ``_process``) and committed, so a
        killed worker loses one group at most and no lock is held on many records while the platform
        answers. Claiming stops once the run's time budget (utils/cron_budget) is spent or
        ``batch_size`` records are done; the cron then triggers itself and reports what remains.
        """
        budget = cron_budget.Budget(self.env)
        group_size = self._get_group_size()
        done = 0
        Staging = self.with_context(ap_sync_deadline=budget.hard_deadline, ap_sync_stop_at=budget.cap)
        while done < batch_size and not budget.spent():
            records = Staging._claim(limit=min(group_size, batch_size - done))
            if not records:
                break
            handled = records._process()
            done += len(handled)
            self._commit_batch()
            self.env["ir.cron"]._notify_progress(done=done, remaining=self._count_waiting() or 0)
        remaining = self._count_waiting()
        cron_budget.hand_over(self.env, "account_ap_sync.ir_cron_ap_sync_process", done, remaining)
        self._schedule_retry_wakeup()
        if remaining and budget.spent():
            _logger.info(
                "AP Sync processing: time budget spent after %s records, %s waiting", done, remaining
            )
        return done

    @api.model
    def _schedule_retry_wakeup(self):
        """Wake the processing cron when the earliest record waiting to retry a platform call is due."""
        self.env.cr.execute(
            "SELECT min(platform_retry_at) FROM ap_invoice_staging WHERE state = 'received'"
            " AND platform_retry_at > now() at time zone 'utc'"
        )
        when = self.env.cr.fetchone()[0]
        if when:
            self.env.ref("account_ap_sync.ir_cron_ap_sync_process").sudo()._trigger(when)

    @api.model
    def _get_remote_steps(self):
        """Steps that wait for the platform, and the method that prefetches their answers for a group
        (concurrently, through ``ap.platform._call_many``) before the step runs record by record."""
        return {}

    def _process(self):
        """Run the pipeline from each record's current step; a failed step stops that record only.

        Records advance together: each one runs up to the next step listed by
        ``_get_remote_steps``, the platform answers of that step are fetched for all of them at once,
        then each goes on. The record is written once, at the end. Returns the records handled (with
        ``ap_sync_stop_at`` in the context, records not started by then are left for a later run).
        """
        steps = self._get_processing_steps()
        names = [name for name, _method, _state in steps]
        remote = self._get_remote_steps()
        self.env.cr.cache["ap_sync_lookups"] = {}  # lookups are remembered for this batch only
        runs = []
        for record in self:
            start = names.index(record.processing_step) if record.processing_step in names else 0
            runs.append({"record": record, "index": start, "state": record.state,
                         "step": record.processing_step, "fetched": set()})  # fmt: skip
        stop_at = self.env.context.get("ap_sync_stop_at")
        active, handled = runs, []
        while active:
            paused = []
            for run in active:
                if stop_at and time.monotonic() > stop_at:
                    break  # a cron run near its limit: the records not done yet are left for the next run
                if self._run_steps(run, steps, remote) == "paused":
                    paused.append(run)
                else:
                    handled.append(run["record"].id)
            if stop_at and time.monotonic() > stop_at:
                break
            for name in {steps[run["index"]][0] for run in paused}:
                waiting = [run for run in paused if steps[run["index"]][0] == name]
                getattr(self.browse([run["record"].id for run in waiting]), remote[name])()
                for run in waiting:
                    run["fetched"].add(name)
            active = paused
        return self.browse(handled)

    def _run_steps(self, run, steps, remote):
        """Advance one record (``run`` holds its position). Returns "paused" before a remote step whose
        answers are not fetched yet, else "done"."""
        record = run["record"]
        while run["index"] < len(steps):
            name, method, reached = steps[run["index"]]
            if name in remote and name not in run["fetched"]:
                return "paused"
            before = record.state
            problem = getattr(record, method)()
            if problem:
                kind, message = problem[:2] if isinstance(problem, tuple) else ("arithmetic", problem)
                if (
                    isinstance(problem, tuple)
                    and len(problem) > 2
                    and record._retry_later(message, problem[2])
                ):
                    return "done"  # a transient platform failure: the record waits, untouched
                record._check_transition(run["state"], "exception")
                record._write_state("exception", message, step=name, exception_type=kind)
                return "done"
            if record.state != before:  # the step moved the record itself (e.g. posted)
                run["state"], run["step"] = record.state, name
                return "done"
            record._check_transition(run["state"], reached)
            run["state"], run["step"] = reached, name
            run["index"] += 1
        state, step = run["state"], run["step"]
        if (state, step) != (record.state, record.processing_step) or record.exception_reason:
            record._write_state(state, step=step)
        if record.platform_retry_count:
            record.write({"platform_retry_count": 0, "platform_retry_at": False})
        if state == "bill_created":
            record._after_bill_created()
        return "done"

    def _retry_later(self, reason, retry_after=None):
        """A platform call failed for now: a received record waits (backoff) and is tried again, at most
        the platform's Max Attempts times. Returns False when it should stop at an exception instead."""
        self.ensure_one()
        platform = self.platform_id
        attempts = self.platform_retry_count + 1
        if self.state != "received" or attempts >= (platform.retry_max_attempts or 1):
            return False
        delay = min(platform.retry_cap or 3600, (platform.retry_base or 30) * (2 ** (attempts - 1)))
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            delay = max(delay, retry_after)
        self.write({
            "platform_retry_count": attempts,
            "platform_retry_at": fields.Datetime.now() + timedelta(seconds=delay),
            "exception_reason": False,
        })  # fmt: skip
        _logger.info("AP Sync %s: %s; retry %s in %ss", self.name, reason, attempts, int(delay))
        return True

    def _after_bill_created(self):
        """Hook: the pipeline just created this record's bill (posting, notifications)."""

    def _step_validate(self):
        """Contract section 3 arithmetic, within the currency's rounding. Returns a problem or None."""
        self.ensure_one()
        problems = self._check_arithmetic()
        return ("arithmetic", "\n".join(problems)) if problems else None

    def _get_rounding(self):
        currency = self.currency_id
        if currency:
            return Decimal(str(currency.rounding))
        return Decimal("0.01")

    def _check_arithmetic(self):
        data = self.document_json or {}
        rounding = self._get_rounding()
        problems = []

        def differs(a, b):
            return a is None or b is None or abs(a - b) > rounding / 2 + Decimal("1e-9")

        lines = data.get("lines") or []
        nets = []
        for index, line in enumerate(lines, start=1):
            quantity, price, net = (
                to_decimal(line.get(key)) for key in ("quantity", "unit_price", "net_amount")
            )
            nets.append(net or Decimal(0))
            if (
                quantity is not None
                and price is not None
                and net is not None
                and differs(quantity * price, net)
            ):
                problems.append(
                    _(
                        "Line %(n)s: quantity %(q)s × unit price %(p)s = %(e)s, but its net amount is %(net)s.",
                        n=index,
                        q=quantity,
                        p=price,
                        e=quantity * price,
                        net=net,
                    )
                )
        totals = data.get("totals") or {}
        net, tax, gross = (to_decimal(totals.get(key)) for key in ("net", "tax", "gross"))
        if differs(sum(nets, Decimal(0)), net):
            problems.append(
                _(
                    "The line nets add up to %(sum)s, but totals.net is %(net)s.",
                    sum=sum(nets, Decimal(0)),
                    net=net,
                )
            )
        for row in data.get("tax_breakdown") or []:
            taxable, rate, amount = (
                to_decimal(row.get(key)) for key in ("taxable_amount", "rate", "tax_amount")
            )
            if taxable is not None and rate is not None and differs(taxable * rate / 100, amount):
                problems.append(
                    _(
                        "Tax %(cat)s %(rate)s%%: %(taxable)s × %(rate)s / 100 = %(expected)s, but tax_amount is %(amount)s.",
                        cat=row.get("category"),
                        rate=rate,
                        taxable=taxable,
                        expected=(taxable * rate / 100).quantize(rounding),
                        amount=amount,
                    )
                )
        if data.get("tax_breakdown"):
            breakdown_tax = sum(
                (to_decimal(r.get("tax_amount")) or Decimal(0)) for r in data["tax_breakdown"]
            )
            if differs(breakdown_tax, tax):
                problems.append(
                    _(
                        "The tax breakdown adds up to %(sum)s, but totals.tax is %(tax)s.",
                        sum=breakdown_tax,
                        tax=tax,
                    )
                )
        if net is not None and tax is not None and differs(net + tax, gross):
            problems.append(
                _(
                    "totals.gross is %(gross)s, but net %(net)s + tax %(tax)s = %(sum)s.",
                    gross=gross,
                    net=net,
                    tax=tax,
                    sum=net + tax,
                )
            )
        for index, line in enumerate(lines, start=1):
            if to_decimal(line.get("quantity")) == 0:
                problems.append(_("Line %s has quantity 0.", index))
        if gross is not None and gross < 0 and self.document_type == "invoice":
            problems.append(
                _("The invoice total %s is negative: the platform should send it as a credit note.", gross)
            )
        if self.due_date and self.issue_date and self.due_date < self.issue_date:
            problems.append(
                _(
                    "The due date %(due)s is before the issue date %(issue)s.",
                    due=self.due_date,
                    issue=self.issue_date,
                )
            )
        return problems

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
