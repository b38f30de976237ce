"""Overview: service levels, last reconciliation, business-metric charts and the runbooks link.

Figures keep the Overview's rule: each carries the model and domain that count it. Metrics come from
``ap.sync.metric`` with one grouped query per grouping (period days, platform, company, vendor).
"""

from datetime import timedelta

from odoo import _, api, fields, models

from .ap_invoice_staging_ops import MATCH_EXCEPTION_TYPES
from .ap_sync_policy import SYNC_DOMAINS

PERIODS = (7, 30, 90)
TOP_VENDORS = 8
RUNBOOKS_URL = "/ap_sync/runbooks"
DIMENSIONS = ("platform_id", "company_id", "partner_id")
# One scan of the staging records touched in the period, aggregated per platform, company, vendor and day.
# The staging records touched in the period, aggregated per (platform, company, vendor): sums and
# counts, rolled up per dimension in Python. Index-only scans of ap_invoice_staging_metrics_idx.
STAGING_GROUPS_SQL = """
    SELECT platform_id, company_id, partner_id,
           count(*) FILTER (WHERE r), count(*) FILTER (WHERE b), count(*) FILTER (WHERE p),
           sum(r2b) FILTER (WHERE b), count(r2b) FILTER (WHERE b),
           sum(b2p) FILTER (WHERE p), count(b2p) FILTER (WHERE p),
           sum(a2p) FILTER (WHERE p), count(a2p) FILTER (WHERE p),
           sum(delay) FILTER (WHERE p), count(delay) FILTER (WHERE p)
      FROM (
        SELECT platform_id, company_id, partner_id, TRUE AS r, bill_created_at >= %(since)s AS b,
               posted_at >= %(since)s AS p, cycle_received_to_bill AS r2b, cycle_bill_to_posted AS b2p,
               CASE WHEN approved_on_platform_at IS NOT NULL THEN cycle_approved_to_posted END AS a2p,
               posting_delay_days AS delay
          FROM ap_invoice_staging
         WHERE company_id = ANY(%(companies)s) AND create_date >= %(since)s
        UNION ALL  -- received before the period, billed or posted in it
        SELECT platform_id, company_id, partner_id, FALSE, bill_created_at >= %(since)s, posted_at >= %(since)s,
               cycle_received_to_bill, cycle_bill_to_posted,
               CASE WHEN approved_on_platform_at IS NOT NULL THEN cycle_approved_to_posted END, posting_delay_days
          FROM ap_invoice_staging
         WHERE company_id = ANY(%(companies)s) AND create_date < %(since)s
           AND (bill_created_at >= %(since)s OR posted_at >= %(since)s)
      ) s
     GROUP BY platform_id, company_id, partner_id
"""
# Throughput per day: each from its own index.
STAGING_DAYS_SQL = """
    SELECT 'received', create_date::date, count(*) FROM ap_invoice_staging
     WHERE company_id = ANY(%(companies)s) AND create_date >= %(since)s GROUP BY 2
    UNION ALL
    SELECT 'billed', bill_created_at::date, count(*) FROM ap_invoice_staging
     WHERE company_id = ANY(%(companies)s) AND bill_created_at >= %(since)s GROUP BY 2
    UNION ALL
    SELECT 'posted', posted_at::date, count(*) FROM ap_invoice_staging
     WHERE company_id = ANY(%(companies)s) AND posted_at >= %(since)s GROUP BY 2
"""
MATCH_EXCEPTIONS_SQL = """
    SELECT platform_id, company_id, partner_id, GROUPING(platform_id), GROUPING(company_id), count(*)
      FROM ap_sync_exception
     WHERE company_id = ANY(%(companies)s) AND create_date >= %(since)s AND exception_type IN %(types)s
     GROUP BY GROUPING SETS ((platform_id), (company_id), (partner_id))
"""


class ApSyncDashboard(models.AbstractModel):
    _inherit = "ap.sync.dashboard"

    @api.model
    def get_dashboard_data(self):
        data = super().get_dashboard_data()
        period = int(self.env.context.get("ap_sync_period_days") or 30)
        period = period if period in PERIODS else 30
        data["operations"] = {
            "runbooks_url": RUNBOOKS_URL,
            "period_days": period,
            "periods": list(PERIODS),
            "policies": self._get_policies(),
            "reconciliations": self._get_reconciliations(),
            "metrics": self._get_metrics(period),
        }
        return data

    @api.model
    def _get_policies(self):
        policies = self.env["ap.sync.policy"].search([])
        labels = dict(SYNC_DOMAINS)
        modes = self._selection_labels("ap.sync.policy", "mode")
        rows = []
        for policy in policies:
            model, domain = policy._get_backlog_domain()
            rows.append(self._figure(
                labels[policy.domain], policy.breach_count if policy.breached else 0, model, domain,
                name=_("Over the SLA: %s", policy.name), key=policy.id, company=policy.company_id.name,
                mode=modes[policy.mode], sla=policy.sla_minutes, breached=policy.breached,
                oldest=policy.oldest_wait_minutes, checked=fields.Datetime.to_string(policy.last_check_at),
                exception_id=policy.exception_id.id if policy.breached else False,
            ))  # fmt: skip
        return rows

    @api.model
    def _get_reconciliations(self):
        Reconciliation = self.env["ap.sync.reconciliation"]
        rows = []
        for platform in self.env["ap.platform"].search([]):
            last = Reconciliation.search(
                [("platform_id", "=", platform.id), ("state", "!=", "draft")], limit=1
            )
            if last:
                rows.append(self._figure(
                    platform.name, last.difference_count, "ap.sync.reconciliation", [("id", "=", last.id)],
                    name=last.name, res_id=last.id, key=platform.id, state=last.state,
                    run_at=fields.Datetime.to_string(last.run_at),
                ))  # fmt: skip
        return rows

    @api.model
    def _get_metrics(self, period):
        """Charts of the business metrics over ``period`` days, by day and by platform, company, vendor.

        At 50,000 records a grouped query per grouping on the metric view costs a scan of the staging
        table each time: the staging figures come from ONE scan (a materialized CTE aggregated per
        grouping), the match exceptions from one grouped query, the small kinds (duplicates, payment
        statuses) from the metric view. Company scoping is the record rules' (the user's companies).
        """
        now = fields.Datetime.now()
        since = now - timedelta(days=period)
        self.env["ap.invoice.staging"].check_access("read")
        self.env["ap.sync.exception"].check_access("read")
        companies = self.env.companies.ids
        stats = {dim: {} for dim in DIMENSIONS}
        days = {}

        def row_of(dim, key):
            return stats[dim].setdefault(key, {
                "id": key, "received": 0, "billed": 0, "posted": 0, "match_exception": 0,
                "duplicate_prevented": 0, "payment_status": 0,
            })  # fmt: skip

        params = {"since": since, "companies": companies}
        sums = {dim: {} for dim in DIMENSIONS}
        self.env.cr.execute(STAGING_GROUPS_SQL, params)
        for platform_id, company_id, partner_id, *values in self.env.cr.fetchall():
            for dim, key in zip(DIMENSIONS, (platform_id, company_id, partner_id), strict=True):
                if key is not None:
                    total = sums[dim].setdefault(key, [0] * len(values))
                    for index, value in enumerate(values):
                        total[index] += value or 0
        for dim, by_key in sums.items():
            for key, (received, billed, posted, *pairs) in by_key.items():
                averages = [
                    round(pairs[i] / pairs[i + 1], 1) if pairs[i + 1] else 0.0 for i in range(0, 8, 2)
                ]
                row_of(dim, key).update(
                    received=received, billed=billed, posted=posted,
                    **dict(zip(("hours_received_to_bill", "hours_bill_to_posted", "hours_approved_to_posted",
                                "posting_delay_days"), averages, strict=True)),
                )  # fmt: skip
        self.env.cr.execute(STAGING_DAYS_SQL, params)
        for kind, day, count in self.env.cr.fetchall():
            days.setdefault(fields.Date.to_string(day), {})[kind] = count
        self.env.cr.execute(
            MATCH_EXCEPTIONS_SQL,
            {"since": since, "companies": companies, "types": tuple(sorted(MATCH_EXCEPTION_TYPES))},
        )
        for platform_id, company_id, partner_id, g_platform, g_company, count in self.env.cr.fetchall():
            dim, key = (
                ("platform_id", platform_id) if not g_platform
                else ("company_id", company_id) if not g_company else ("partner_id", partner_id)
            )  # fmt: skip
            if key is not None:
                row_of(dim, key)["match_exception"] = count
        Metric = self.env["ap.sync.metric"]
        small = [("date", ">=", since), ("kind", "in", ("duplicate_prevented", "payment_status"))]
        for dim in DIMENSIONS:
            for record, kind, count, lag in Metric._read_group(
                small + [(dim, "!=", False)], [dim, "kind"], ["__count", "lag_minutes:avg"]
            ):
                row = row_of(dim, record.id)
                row[kind] = count
                if kind == "payment_status":
                    row["lag_minutes"] = round(lag or 0.0, 1)

        start = (now - timedelta(days=period - 1)).date()
        throughput = []
        for offset in range(period):
            day = fields.Date.to_string(start + timedelta(days=offset))
            counts = days.get(day, {})
            throughput.append({"day": day, "received": counts.get("received", 0),
                               "billed": counts.get("billed", 0), "posted": counts.get("posted", 0)})  # fmt: skip
        peak = max([max(row["received"], row["billed"], row["posted"]) for row in throughput] or [0]) or 1
        for row in throughput:
            for kind in ("received", "billed", "posted"):
                row[f"{kind}_pct"] = round(100.0 * row[kind] / peak, 1)
        since_text = fields.Datetime.to_string(since)

        def grouped(dim, model, limit=None):
            rows = sorted(stats[dim].values(), key=lambda row: (-row["received"], row["id"]))
            rows = rows[:limit] if limit else rows
            names = dict(self.env[model].browse([row["id"] for row in rows]).sudo().mapped(
                lambda record: (record.id, record.display_name)
            ))  # fmt: skip
            longest = max([row.get("hours_received_to_bill", 0) for row in rows] or [0]) or 1
            for row in rows:
                row["label"] = names.get(row["id"], "")
                row["match_rate"] = (
                    round(100.0 * row["match_exception"] / row["received"], 1) if row["received"] else 0.0
                )
                row["cycle_pct"] = round(100.0 * row.get("hours_received_to_bill", 0) / longest, 1)
                row["domain"] = [(dim, "=", row["id"]), ("date", ">=", since_text)]
            return rows

        return {
            "since": since_text,
            "throughput": throughput,
            "by_platform": grouped("platform_id", "ap.platform"),
            "by_company": grouped("company_id", "res.company"),
            "by_vendor": grouped("partner_id", "res.partner", limit=TOP_VENDORS),
            "model": "ap.sync.metric",
        }
