"""Scheduled actions of account_ap_sync: time budget per pass, and a run that keeps failing is seen.

Odoo 18 counts the consecutive failures of a cron (``failure_count``, ``first_failure_date``) and,
for runs killed at the time limit, ``ir.cron.progress.timed_out_counter``; after many failures it
deactivates the cron, and only says so in the server log. For the module's own crons, a run killed
twice in a row or failing twice opens one exception queue item (with one activity for the AP Sync
managers), updated on later failures, resolved by the next clean run. The Overview lists them.
"""

import logging

from odoo import SUPERUSER_ID, _, api, models
from odoo.service import server as odoo_server
from odoo.tools import SQL, config

from ..utils import cron_budget, cron_wakeup

_logger = logging.getLogger(__name__)


def _fit_cron_sleep_to_limit():
    """A prefork cron worker waits up to ``SLEEP_INTERVAL`` + 9 s (69 s) for work between two
    passes, and its watchdog kills it once ``limit_time_real_cron`` passes without a sign of life.
    With a limit below that wait (``--limit-time-real-cron=30``), an idle cron worker is killed
    every 30 s, and a new one (which starts by waiting) never runs a job unless a NOTIFY wakes it:
    after a restart, nothing is processed. Make the wait fit in the limit (checked once, when the
    module is loaded by the server's master process, before it forks its workers)."""
    limit = cron_budget.effective_limit()
    current = getattr(odoo_server, "SLEEP_INTERVAL", None)
    if not config.get("workers") or not current or not limit or current + 10 < limit:
        return
    wanted = max(1, int(limit / 2) - 10)
    if wanted < current:
        odoo_server.SLEEP_INTERVAL = wanted
        _logger.info(
            "AP Sync: cron workers wait at most %s s between passes (limit_time_real_cron is %s s)",
            wanted + 9,
            limit,
        )


_fit_cron_sleep_to_limit()

OUR_CRONS = (
    "account_ap_sync.ir_cron_ap_sync_process",
    "account_ap_sync.ir_cron_ap_sync_deliver",
    "account_ap_sync.ir_cron_ap_sync_pull",
)
# A run is "failing again and again" from this many consecutive failures or killed runs.
FAILURES_BEFORE_ALERT = 2


class IrCron(models.Model):
    _inherit = "ir.cron"

    @classmethod
    def _process_job(cls, db, cron_cr, job):
        cron_budget.mark_pass(cron_cr)
        killed_before = job.get("timed_out_counter") or 0
        result = super()._process_job(db, cron_cr, job)
        # After Odoo committed the run's outcome (failure count, next call): our own bookkeeping.
        try:
            env = api.Environment(cron_cr, SUPERUSER_ID, {})
            env["ir.cron"].browse(job["id"])._ap_sync_check_health(killed_before)
            cron_cr.commit()
        except Exception:  # never let the bookkeeping break the scheduler
            cron_cr.rollback()
            _logger.warning("AP Sync: could not record the health of cron %s", job["id"], exc_info=True)
        return result

    def _ap_sync_trigger_now(self):
        """``_trigger()`` (run as soon as possible) in one statement, for the webhook's hot path: the
        trigger row is inserted only if the cron is active (Odoo skips a due trigger of an inactive
        cron too), without reading the cron record first or going through ``create``. The cron
        workers are woken after commit over the process's kept connection (see ``_notifydb``).
        Returns whether a trigger was inserted."""
        self.ensure_one()
        self.env.cr.execute(
            SQL(
                """INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                   SELECT id, now() at time zone 'UTC', %(uid)s, now() at time zone 'UTC', %(uid)s,
                          now() at time zone 'UTC'
                     FROM ir_cron WHERE id = %(id)s AND active""",
                uid=self.env.uid,
                id=self.id,
            )
        )
        if not self.env.cr.rowcount:
            return False
        self.env.cr.postcommit.add(self.with_context(ap_sync_kept_notify=True)._notifydb)
        return True

    def _notifydb(self):
        """The module's own triggers (``ap_sync_kept_notify`` in the context) wake the cron workers
        through this process's kept connection (utils/cron_wakeup.py); anything else, or a failure
        of that connection, goes through Odoo's new connection as before."""
        if self.env.context.get("ap_sync_kept_notify") and cron_wakeup.notify(self.env.cr.dbname):
            return None
        return super()._notifydb()

    @api.model
    def _ap_sync_cron_ids(self):
        return [cron.id for xmlid in OUR_CRONS if (cron := self.env.ref(xmlid, raise_if_not_found=False))]

    @api.model
    def _ap_sync_health(self):
        """Health of the module's crons: one dict per cron (used by the Overview and the alert)."""
        ids = self._ap_sync_cron_ids()
        if not ids:
            return []
        limit = cron_budget.effective_limit() or 120
        self.flush_model(["active", "failure_count", "first_failure_date", "lastcall"])
        self.env["ir.cron.progress"].flush_model()
        self.env.cr.execute(
            """SELECT c.id, c.active, c.failure_count, c.first_failure_date, c.lastcall, p.timed_out_counter,
                      p.create_date < (now() at time zone 'UTC') - make_interval(secs => %s)
                 FROM ir_cron c
                 LEFT JOIN LATERAL (SELECT timed_out_counter, create_date FROM ir_cron_progress
                                     WHERE cron_id = c.id ORDER BY id DESC LIMIT 1) p ON TRUE
                WHERE c.id IN %s ORDER BY c.id""",
            [limit, tuple(ids)],
        )
        rows = self.env.cr.fetchall()
        names = {cron.id: cron.name for cron in self.sudo().browse([row[0] for row in rows])}
        health = []
        for cron_id, active, failures, first_failure, lastcall, timed_out, stale in rows:
            # The latest progress row counts the runs killed in a row, the one under way included
            # while it is younger than the time limit.
            killed = (timed_out or 0) if stale else max(0, (timed_out or 0) - 1)
            failing = not active or max(failures or 0, killed) >= FAILURES_BEFORE_ALERT
            health.append({
                "id": cron_id, "name": names[cron_id], "active": active, "failure_count": failures or 0,
                "first_failure_date": first_failure, "lastcall": lastcall, "killed_in_a_row": killed,
                "failing": failing,
            })  # fmt: skip
        return health

    def _ap_sync_check_health(self, killed_before=0):
        """After a pass over one of the module's crons: open, update or resolve the queue item."""
        self.ensure_one()
        if self.id not in self._ap_sync_cron_ids():
            return
        health = self._ap_sync_health()
        state = next(row for row in health if row["id"] == self.id)
        Exception_ = self.env["ap.sync.exception"].sudo()
        if state["active"] and state["failure_count"] == 0:
            if not any(row["failing"] for row in health if row["id"] != self.id):
                Exception_._resolve_cron_failures(
                    _("The scheduled action '%s' ran cleanly again.", self.name)
                )
            return
        killed = max(state["killed_in_a_row"], killed_before)
        if state["active"] and max(state["failure_count"], killed) < FAILURES_BEFORE_ALERT:
            return
        description = _(
            "The scheduled action '%(name)s' keeps failing: %(failures)s failed runs in a row, %(killed)s "
            "runs killed at the time limit in a row%(since)s%(inactive)s. See the server log around that "
            "time; the work it does waits until it runs cleanly again.",
            name=self.name,
            failures=state["failure_count"],
            killed=killed,
            since=_(", since %s", state["first_failure_date"]) if state["first_failure_date"] else "",
            inactive=_("; Odoo has deactivated it") if not state["active"] else "",
        )
        Exception_._raise_for_cron(self, description)
