"""Operations on staging records: priority, business metrics, and the batch window of processing."""

from datetime import datetime, timezone

from odoo import api, fields, models

from .ap_invoice_staging_engine import batch_lookup

# Exception types that count as a match exception (the invoice did not match vendor, PO or receipt).
MATCH_EXCEPTION_TYPES = {
    "unknown_vendor", "ambiguous_vendor", "po_not_found", "price_variance", "quantity_variance",
    "receipt_missing",
}  # fmt: skip


STAGING_INDEXES = {
    "ap_invoice_staging_overview_idx": "(platform_id, state, create_date) INCLUDE (company_id)",
    "ap_invoice_staging_metrics_idx": "(create_date) INCLUDE (platform_id, company_id, partner_id, "
    "bill_created_at, posted_at, approved_on_platform_at, cycle_received_to_bill, cycle_bill_to_posted, "
    "cycle_approved_to_posted, posting_delay_days)",
    "ap_invoice_staging_bill_created_at_idx": "(bill_created_at) INCLUDE (company_id) WHERE bill_created_at IS NOT NULL",
    "ap_invoice_staging_posted_at_idx": "(posted_at) INCLUDE (company_id) WHERE posted_at IS NOT NULL",
}


def _hours(start, end):
    return round((end - start).total_seconds() / 3600.0, 2) if start and end and end >= start else 0.0


def parse_platform_datetime(value):
    """Naive UTC datetime of a platform ISO 8601 timestamp (None when unreadable)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    priority = fields.Integer(
        compute="_compute_priority",
        store=True,
        readonly=True,
        index=True,
        help="Sum of the points of the priority rules the invoice meets (boosted in close windows). "
        "Processing takes the highest first; equal priorities go first in, first out.",
    )
    # Business metrics, stamped when the record reaches each state (hours; 0 until reached).
    bill_created_at = fields.Datetime(readonly=True, copy=False)
    posted_at = fields.Datetime(readonly=True, copy=False)
    approved_on_platform_at = fields.Datetime(
        string="Approved on Platform", readonly=True, copy=False, help="approval.approved_at, in UTC."
    )
    cycle_received_to_bill = fields.Float(
        string="Received → Bill (h)", readonly=True, aggregator="avg", copy=False
    )
    cycle_bill_to_posted = fields.Float(
        string="Bill → Posted (h)", readonly=True, aggregator="avg", copy=False
    )
    cycle_approved_to_posted = fields.Float(
        string="Approved → Posted (h)", readonly=True, aggregator="avg", copy=False
    )
    posting_delay_days = fields.Float(
        string="Posting Delay (days)",
        readonly=True,
        aggregator="avg",
        copy=False,
        help="Days from the invoice's issue date to its posting in Odoo.",
    )
    match_exception_pct = fields.Float(
        string="Match Exception (%)",
        readonly=True,
        aggregator="avg",
        copy=False,
        help="100 when the invoice ever stopped on a vendor, PO or receipt match, else 0: its average is the "
        "match-exception rate.",
    )

    def init(self):
        res = super().init()
        # The Overview at 50,000 records: its counts and the metric charts read these indexes only
        # (index-only scans), never the wide staging rows.
        for name, definition in STAGING_INDEXES.items():
            # Names and definitions are this module's constants (STAGING_INDEXES), never input.
            self.env.cr.execute(f"CREATE INDEX IF NOT EXISTS {name} ON ap_invoice_staging {definition}")  # pylint: disable=sql-injection
        return res

    @api.depends("amount_gross", "due_date", "partner_id", "platform_id", "company_id")
    def _compute_priority(self):
        Rule = self.env["ap.sync.priority.rule"]
        # Rules and close windows read once for the batch; during processing, once for the whole group
        # (its records are recomputed one by one, as each is flushed).
        cache = batch_lookup(self.env, "priority", dict)
        for record in self:
            record.priority = Rule._score(
                record.company_id, amount=record.amount_gross, due_date=record.due_date,
                partner=record.partner_id, platform=record.platform_id, cache=cache,
            )  # fmt: skip

    @api.model
    def _get_priority_of_values(self, values):
        """The priority ``_compute_priority`` gives a record created with ``values`` (the same
        ``_score`` of the same values). Intake puts it in the values so that the record's INSERT
        carries it, and takes it as computed (``precompute`` would build a new record from every value
        instead, and a readonly precomputed field ignores the value given)."""
        try:
            due_date = fields.Date.to_date(values.get("due_date")) or None
        except (TypeError, ValueError):
            due_date = None  # not a date: the create refuses it (ap.sync.input.mixin)
        return self.env["ap.sync.priority.rule"]._score(
            self.env["res.company"].browse(values.get("company_id")),
            amount=values.get("amount_gross") or 0.0,
            due_date=due_date,
            partner=self.env["res.partner"].browse(values.get("partner_id")),
            platform=self.env["ap.platform"].browse(values.get("platform_id")),
            cache=batch_lookup(self.env, "priority", dict),
        )

    # ------------------------------------------------------------------ metrics
    def _write_state(self, state, reason=None, step=None, exception_type=None):
        res = super()._write_state(state, reason=reason, step=step, exception_type=exception_type)
        if state in ("bill_created", "posted") or (
            state == "exception" and exception_type in MATCH_EXCEPTION_TYPES
        ):
            self._stamp_metrics(state, exception_type)
        return res

    def _stamp_metrics(self, state, exception_type=None):
        now = fields.Datetime.now()
        for record in self:
            values = {}
            if state == "exception":
                values["match_exception_pct"] = 100.0
            if state in ("bill_created", "posted") and not record.bill_created_at:
                values["bill_created_at"] = now
                values["cycle_received_to_bill"] = _hours(record.create_date, now)
            if state == "posted" and not record.posted_at:
                approved = parse_platform_datetime(record.approved_at) if record.approved_at else None
                bill_at = values.get("bill_created_at") or record.bill_created_at
                values.update(
                    posted_at=now,
                    approved_on_platform_at=approved or False,
                    cycle_bill_to_posted=_hours(bill_at, now),
                    cycle_approved_to_posted=_hours(approved, now),
                    posting_delay_days=(
                        round(_hours(datetime.combine(record.issue_date, datetime.min.time()), now) / 24, 2)
                        if record.issue_date else 0.0
                    ),
                )  # fmt: skip
            if values:
                record.sudo().write(values)

    # ------------------------------------------------------------------ batch window
    @api.model
    def _claim(self, states=("received",), limit=50, platforms=None):
        """Scheduled processing honours the approved-invoices policy: a platform whose company processes
        in batch is claimed only while its batch is due."""
        if platforms is None:
            held = self.env["ap.sync.policy"]._held_platforms("approved_invoices")
            if held:
                platforms = self.env["ap.platform"].sudo().search([("id", "not in", held.ids)])
        return super()._claim(states=states, limit=limit, platforms=platforms)
