"""Overview: service levels, last reconciliation, business-metric charts and the runbooks link.

Figures keep the Overview's rule: each carries the model and domain that count it. Metrics come from
``ap.sync.metric`` with one grouped query per grouping (period days, platform, company, vendor).
"""

from datetime import timedelta

from odoo import _, api, fields, models

from .ap_sync_policy import SYNC_DOMAINS

PERIODS = (7, 30, 90)
TOP_VENDORS = 8
RUNBOOKS_URL = "/ap_sync/runbooks"


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
        Metric = self.env["ap.sync.metric"]
        now = fields.Datetime.now()
        since = fields.Datetime.to_string(now - timedelta(days=period))
        base = [("date", ">=", since)]
        measures = ["__count", "amount:sum", "hours_received_to_bill:avg", "hours_bill_to_posted:avg",
                    "hours_approved_to_posted:avg", "posting_delay_days:avg", "lag_minutes:avg"]  # fmt: skip
        # Throughput per day: received, billed and posted.
        days = {}
        for day, kind, count in Metric._read_group(
            base + [("kind", "in", ("received", "billed", "posted"))], ["date:day", "kind"], ["__count"]
        ):
            days.setdefault(fields.Date.to_string(day), {})[kind] = count
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

        def grouped(dimension, limit=None):
            stats = {}
            for record, kind, *values in Metric._read_group(
                base + [(dimension, "!=", False)], [dimension, "kind"], measures
            ):
                row = stats.setdefault(record.id, {"id": record.id, "label": record.display_name, "received": 0,
                                                   "billed": 0, "posted": 0, "match_exception": 0,
                                                   "duplicate_prevented": 0, "payment_status": 0})  # fmt: skip
                count, _amount, r2b, b2p, a2p, delay, lag = values
                row[kind] = count
                if kind == "billed":
                    row["hours_received_to_bill"] = round(r2b or 0.0, 1)
                elif kind == "posted":
                    row.update(
                        hours_bill_to_posted=round(b2p or 0.0, 1),
                        hours_approved_to_posted=round(a2p or 0.0, 1),
                        posting_delay_days=round(delay or 0.0, 1),
                    )
                elif kind == "payment_status":
                    row["lag_minutes"] = round(lag or 0.0, 1)
            rows = sorted(stats.values(), key=lambda row: -row["received"])
            rows = rows[:limit] if limit else rows
            longest = max([row.get("hours_received_to_bill", 0) for row in rows] or [0]) or 1
            for row in rows:
                row["match_rate"] = (
                    round(100.0 * row["match_exception"] / row["received"], 1) if row["received"] else 0.0
                )
                row["cycle_pct"] = round(100.0 * row.get("hours_received_to_bill", 0) / longest, 1)
                row["domain"] = [(dimension, "=", row["id"]), ("date", ">=", since)]
            return rows

        return {
            "since": since,
            "throughput": throughput,
            "by_platform": grouped("platform_id"),
            "by_company": grouped("company_id"),
            "by_vendor": grouped("partner_id", limit=TOP_VENDORS),
            "model": "ap.sync.metric",
        }
