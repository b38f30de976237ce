"""Business metrics shared by finance and IT (a read-only SQL view, for graph and pivot views).

One row per business event, dated when it happened:

* ``received``, ``billed``, ``posted``: the staging record's life, with its cycle times
  (received → bill, bill → posted, approved on the platform → posted) and posting delay;
* ``match_exception``: processing stopped on a vendor, PO or receipt match;
* ``duplicate_prevented``: a redelivered message answered "duplicate", the same content sent again,
  or a possible duplicate bill held for a person;
* ``payment_status``: a payment status delivered to the platform, with its sync lag (minutes from
  the change in Odoo to the platform's 2xx).

Throughput per day is the count of ``billed`` rows per day.
"""

from odoo import fields, models

from .ap_invoice_staging_ops import MATCH_EXCEPTION_TYPES
from .ap_sync_policy import PAYMENT_STATUSES

METRIC_KINDS = [
    ("received", "Received"),
    ("billed", "Bill created"),
    ("posted", "Posted"),
    ("match_exception", "Match exception"),
    ("duplicate_prevented", "Duplicate prevented"),
    ("payment_status", "Payment status sent"),
]


class ApSyncMetric(models.Model):
    _name = "ap.sync.metric"
    _description = "AP Sync Business Metric"
    _auto = False
    _order = "date desc"
    _rec_name = "kind"

    date = fields.Datetime(readonly=True)
    kind = fields.Selection(METRIC_KINDS, readonly=True)
    platform_id = fields.Many2one("ap.platform", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Vendor", readonly=True)
    staging_id = fields.Many2one("ap.invoice.staging", readonly=True)
    count = fields.Integer(string="Events", readonly=True)
    amount = fields.Float(readonly=True, help="Gross amount of the invoice (its currency).")
    hours_received_to_bill = fields.Float(string="Received → Bill (h)", readonly=True, aggregator="avg")
    hours_bill_to_posted = fields.Float(string="Bill → Posted (h)", readonly=True, aggregator="avg")
    hours_approved_to_posted = fields.Float(string="Approved → Posted (h)", readonly=True, aggregator="avg")
    posting_delay_days = fields.Float(string="Posting Delay (days)", readonly=True, aggregator="avg")
    lag_minutes = fields.Float(string="Payment Status Lag (min)", readonly=True, aggregator="avg")

    @property
    def _table_query(self):
        match_types = ", ".join(f"'{kind}'" for kind in sorted(MATCH_EXCEPTION_TYPES))
        payment = ", ".join(f"'{status}'" for status in PAYMENT_STATUSES)
        null5 = "NULL::float, NULL::float, NULL::float, NULL::float, NULL::float"
        return f"""
            SELECT s.id * 8 + 0 AS id, s.create_date AS date, 'received' AS kind, s.platform_id, s.company_id,
                   s.partner_id, s.id AS staging_id, 1 AS count, s.amount_gross AS amount,
                   NULL::float AS hours_received_to_bill, NULL::float AS hours_bill_to_posted,
                   NULL::float AS hours_approved_to_posted, NULL::float AS posting_delay_days,
                   NULL::float AS lag_minutes
              FROM ap_invoice_staging s
            UNION ALL
            SELECT s.id * 8 + 1, s.bill_created_at, 'billed', s.platform_id, s.company_id, s.partner_id, s.id, 1,
                   s.amount_gross, s.cycle_received_to_bill, NULL, NULL, NULL, NULL
              FROM ap_invoice_staging s WHERE s.bill_created_at IS NOT NULL
            UNION ALL
            SELECT s.id * 8 + 2, s.posted_at, 'posted', s.platform_id, s.company_id, s.partner_id, s.id, 1,
                   s.amount_gross, NULL, s.cycle_bill_to_posted,
                   CASE WHEN s.approved_on_platform_at IS NOT NULL THEN s.cycle_approved_to_posted END,
                   s.posting_delay_days, NULL
              FROM ap_invoice_staging s WHERE s.posted_at IS NOT NULL
            UNION ALL
            SELECT e.id * 8 + 3, e.create_date, 'match_exception', e.platform_id, e.company_id, e.partner_id,
                   e.staging_id, 1, NULL, {null5}
              FROM ap_sync_exception e WHERE e.exception_type IN ({match_types})
            UNION ALL
            SELECT e.id * 8 + 4, e.create_date, 'duplicate_prevented', e.platform_id, e.company_id, e.partner_id,
                   e.staging_id, 1, NULL, {null5}
              FROM ap_sync_exception e WHERE e.exception_type = 'possible_duplicate'
            UNION ALL
            SELECT l.id * 8 + 5, l.create_date, 'duplicate_prevented', l.platform_id, l.company_id, NULL,
                   l.staging_id, 1, NULL, {null5}
              FROM ap_sync_log l WHERE l.outcome = 'duplicate'
            UNION ALL
            SELECT ev.id * 8 + 6, ev.create_date, 'duplicate_prevented', ev.platform_id, p.company_id, NULL,
                   ev.staging_id, 1, NULL, {null5}
              FROM ap_sync_event ev JOIN ap_platform p ON p.id = ev.platform_id WHERE ev.state = 'unchanged'
            UNION ALL
            SELECT o.id * 8 + 7, o.done_at, 'payment_status', o.platform_id, o.company_id, s.partner_id,
                   o.staging_id, 1, s.amount_gross, NULL, NULL, NULL, NULL,
                   EXTRACT(EPOCH FROM (o.done_at - o.create_date)) / 60.0
              FROM ap_sync_outbox o LEFT JOIN ap_invoice_staging s ON s.id = o.staging_id
             WHERE o.kind = 'erp_status' AND o.state = 'done' AND o.done_at IS NOT NULL AND o.status IN ({payment})
        """
