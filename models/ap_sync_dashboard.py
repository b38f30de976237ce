"""Data of the Overview dashboard (Accounting > AP Sync > Overview).

Every figure comes with the model and domain that count it, so a click opens exactly the records
behind the number. Figures are computed with grouped queries (one per kind of figure, all platforms
at once), under the user's access rules: a person sees the figures of their companies.
"""

from datetime import timedelta

from odoo import _, api, fields, models

from .ap_invoice_staging import STATES
from .ap_sync_exception import OPEN_STATES

UNPROCESSED = ("received", "validated", "matched", "exception")
# (minimum age in days, maximum age in days or None)
AGE_BUCKETS = [(0, 1), (1, 3), (3, 7), (7, None)]


class ApSyncDashboard(models.AbstractModel):
    _name = "ap.sync.dashboard"
    _description = "AP Sync Overview"

    @api.model
    def get_dashboard_data(self):
        now = fields.Datetime.now()
        platforms = self.env["ap.platform"].search([])
        data = {platform.id: self._empty_card(platform) for platform in platforms}
        self._add_staging_states(data)
        self._add_exceptions(data, now)
        self._add_oldest_unprocessed(data, now)
        self._add_sync_health(data, now)
        self._add_outbox(data)
        return {
            "platforms": list(data.values()),
            "crons": self._get_cron_health(),
            "generated_at": fields.Datetime.to_string(now),
        }

    @api.model
    def _get_cron_health(self):
        """The module's scheduled actions: failing ones (killed at the time limit or raising again and
        again, or deactivated by Odoo) are flagged, with a link to their open queue item."""
        health = self.env["ir.cron"].sudo()._ap_sync_health()
        items = self.env["ap.sync.exception"].search(
            [("exception_type", "=", "cron_failure"), ("state", "in", OPEN_STATES)], limit=1
        )
        rows = []
        for row in health:
            rows.append({
                "id": row["id"], "name": row["name"], "active": row["active"], "failing": row["failing"],
                "failure_count": row["failure_count"], "killed_in_a_row": row["killed_in_a_row"],
                "first_failure_date": fields.Datetime.to_string(row["first_failure_date"]) or False,
                "lastcall": fields.Datetime.to_string(row["lastcall"]) or False,
                "exception": self._figure(
                    _("Open item"), len(items), "ap.sync.exception", [("id", "in", items.ids)],
                    name=_("Scheduled action failing"),
                ) if row["failing"] and items else None,
            })  # fmt: skip
        return rows

    @api.model
    def _empty_card(self, platform):
        return {
            "id": platform.id, "name": platform.name, "company": platform.company_id.name,
            "states": [], "exceptions_by_type": [], "exceptions_by_age": [], "open_exceptions": None,
            "oldest_unprocessed": None, "last_success": None, "failure_rate": None, "outbox": [],
        }  # fmt: skip

    @api.model
    def _selection_labels(self, model, field):
        """Labels of a selection in the user's language."""
        return dict(self.env[model]._fields[field]._description_selection(self.env))

    @api.model
    def _figure(self, label, count, model, domain, name=None, **extra):
        return {
            "label": label,
            "count": count,
            "model": model,
            "domain": domain,
            "name": name or label,
            **extra,
        }

    @api.model
    def _add_staging_states(self, data):
        labels = self._selection_labels("ap.invoice.staging", "state")
        groups = self.env["ap.invoice.staging"]._read_group(
            [("platform_id", "in", list(data))], ["platform_id", "state"], ["__count"]
        )
        counts = {(platform.id, state): count for platform, state, count in groups}
        for platform_id, card in data.items():
            for state, _label in STATES:
                count = counts.get((platform_id, state), 0)
                if count or state in ("received", "exception", "bill_created", "posted"):
                    card["states"].append(self._figure(
                        labels[state], count, "ap.invoice.staging",
                        [("platform_id", "=", platform_id), ("state", "=", state)],
                        name=_("%(platform)s: %(state)s", platform=card["name"], state=labels[state]), key=state,
                    ))  # fmt: skip

    @api.model
    def _add_exceptions(self, data, now):
        Exception_ = self.env["ap.sync.exception"]
        labels = self._selection_labels("ap.sync.exception", "exception_type")
        base = [("platform_id", "in", list(data)), ("state", "in", OPEN_STATES)]
        for platform, kind, count in Exception_._read_group(
            base, ["platform_id", "exception_type"], ["__count"]
        ):
            data[platform.id]["exceptions_by_type"].append(self._figure(
                labels.get(kind, kind), count, "ap.sync.exception",
                [("platform_id", "=", platform.id), ("state", "in", OPEN_STATES), ("exception_type", "=", kind)],
                name=_("Open exceptions: %s", labels.get(kind, kind)), key=kind,
            ))  # fmt: skip
        for low, high in AGE_BUCKETS:
            label = _("%(low)s-%(high)s days", low=low, high=high) if high else _("over %s days", low)
            age_domain = (
                [("create_date", "<=", fields.Datetime.to_string(now - timedelta(days=low)))] if low else []
            )
            if high is not None:
                age_domain.append(("create_date", ">", fields.Datetime.to_string(now - timedelta(days=high))))
            counts = {
                platform.id: count
                for platform, count in Exception_._read_group(base + age_domain, ["platform_id"], ["__count"])
            }
            for platform_id, card in data.items():
                card["exceptions_by_age"].append(self._figure(
                    label, counts.get(platform_id, 0), "ap.sync.exception",
                    [("platform_id", "=", platform_id), ("state", "in", OPEN_STATES), *age_domain],
                    name=_("Open exceptions, %s old", label),
                ))  # fmt: skip
        for card in data.values():
            card["exceptions_by_type"].sort(key=lambda figure: -figure["count"])
            card["open_exceptions"] = self._figure(
                _("Open exceptions"),
                sum(f["count"] for f in card["exceptions_by_age"]),
                "ap.sync.exception",
                [("platform_id", "=", card["id"]), ("state", "in", OPEN_STATES)],
            )

    @api.model
    def _add_oldest_unprocessed(self, data, now):
        Staging = self.env["ap.invoice.staging"]
        domain = [("platform_id", "in", list(data)), ("state", "in", UNPROCESSED)]
        for platform, oldest in Staging._read_group(domain, ["platform_id"], ["create_date:min"]):
            record = Staging.search(
                [
                    ("platform_id", "=", platform.id),
                    ("state", "in", UNPROCESSED),
                    ("create_date", "=", oldest),
                ],
                order="id",
                limit=1,
            )
            data[platform.id]["oldest_unprocessed"] = self._figure(
                record.display_name, 1, "ap.invoice.staging", [("id", "=", record.id)],
                name=_("Oldest unprocessed invoice"), since=fields.Datetime.to_string(oldest),
                age_hours=round((now - oldest).total_seconds() / 3600, 1), res_id=record.id,
            )  # fmt: skip

    @api.model
    def _add_sync_health(self, data, now):
        Log = self.env["ap.sync.log"]
        ok = ("success", "duplicate")
        for platform, last in Log._read_group(
            [("platform_id", "in", list(data)), ("outcome", "in", ok)], ["platform_id"], ["create_date:max"]
        ):
            data[platform.id]["last_success"] = self._figure(
                _("Last successful sync"), 1, "ap.sync.log",
                [("platform_id", "=", platform.id), ("outcome", "in", ok)],
                name=_("Successful syncs"), at=fields.Datetime.to_string(last),
            )  # fmt: skip
        since = fields.Datetime.to_string(now - timedelta(hours=24))
        window = [("platform_id", "in", list(data)), ("create_date", ">=", since)]
        totals = {}
        for platform, outcome, count in Log._read_group(window, ["platform_id", "outcome"], ["__count"]):
            total, failed = totals.get(platform.id, (0, 0))
            totals[platform.id] = (total + count, failed + (count if outcome in ("rejected", "error") else 0))
        for platform_id, card in data.items():
            total, failed = totals.get(platform_id, (0, 0))
            card["failure_rate"] = self._figure(
                _("Failures over 24 h"), failed, "ap.sync.log",
                [("platform_id", "=", platform_id), ("create_date", ">=", since),
                 ("outcome", "in", ("rejected", "error"))],
                name=_("Failed syncs, last 24 h"), total=total,
                rate=round(100.0 * failed / total, 1) if total else 0.0,
            )  # fmt: skip

    @api.model
    def _add_outbox(self, data):
        Outbox = self.env["ap.sync.outbox"]
        counts = {
            (platform.id, state): count
            for platform, state, count in Outbox._read_group(
                [("platform_id", "in", list(data)), ("state", "in", ("pending", "dead"))],
                ["platform_id", "state"], ["__count"],
            )
        }  # fmt: skip
        for platform_id, card in data.items():
            for state, label in (("pending", _("Outbox pending")), ("dead", _("Dead letters"))):
                card["outbox"].append(self._figure(
                    label, counts.get((platform_id, state), 0), "ap.sync.outbox",
                    [("platform_id", "=", platform_id), ("state", "=", state)], key=state,
                ))  # fmt: skip
