"""Engine: claims staging records and runs the pipeline's steps on them, within bounded transactions.

``_cron_process`` claims small groups (``_claim``, skipping locked rows), commits after each group and
stops claiming once the cron's time budget is spent (then triggers itself). ``_process`` runs each
record from its current step (``_get_processing_steps``); the steps listed by ``_get_remote_steps``
get their platform answers for the whole group at once first. A step that could not reach the
platform for now waits with ``_retry_later``. The steps themselves are in
``ap_invoice_staging_steps.py``; what goes back to the platform in ``ap_invoice_staging_status.py``."""

import logging
import time
from datetime import timedelta

from odoo import api, fields, models

from ..utils import cron_budget

_logger = logging.getLogger(__name__)

# Lookups (mappings, taxes, journals, priority rules...) remembered while ``_process`` runs a batch.
BATCH_LOOKUPS = "ap_sync_lookups"


def batch_lookup(env, key, compute):
    """``compute()``, remembered under ``key`` for the processing batch running in this cursor (see
    ``_process``); outside a batch, computed every time."""
    lookups = env.cr.cache.get(BATCH_LOOKUPS)
    if lookups is None:
        return compute()
    if key not in lookups:
        lookups[key] = compute()
    return lookups[key]


class ApInvoiceStaging(models.Model):
    _inherit = "ap.invoice.staging"

    # ------------------------------------------------------------------ processing
    @api.model
    def _get_processing_steps(self):
        """Ordered (step name, method, state reached) of the pipeline. Later modules insert steps."""
        return [("validate", "_step_validate", "validated")]

    @api.model
    def _claim(self, states=("received",), limit=50, platforms=None):
        """Lock up to ``limit`` records to process; records locked by another worker are skipped, and
        so are records waiting to retry a platform call (``platform_retry_at`` in the future).

        With ``ap_sync_peek`` (ids) in the context: the records the next claim would take, those ids
        left out, read without locking anything (see ``_cron_process``)."""
        self.flush_model(["state", "platform_retry_at"])
        query = (
            "SELECT id FROM ap_invoice_staging WHERE state IN %s"
            " AND (platform_retry_at IS NULL OR platform_retry_at <= now() at time zone 'utc')"
        )
        params = [tuple(states)]
        if platforms is not None:
            query += " AND platform_id IN %s"
            params.append(tuple(platforms.ids) or (0,))
        peek = self.env.context.get("ap_sync_peek")
        if peek is not None:
            query += " AND id NOT IN %s"
            params.append(tuple(peek) or (0,))
        lock = "" if peek is not None else " FOR UPDATE SKIP LOCKED"
        self.env.cr.execute(query + " ORDER BY priority DESC, id LIMIT %s" + lock, [*params, limit])
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

        The platform calls of a group go out as soon as it is claimed, and those of the next group
        (read ahead, not locked) while this one is processed: the platform answers while the bills
        are created (``_start_remote_calls``). A group read ahead is claimed next even if the budget
        was spent meanwhile, so that its calls are not made twice.
        """
        self._drop_remote_calls()  # a run that failed may have left some: its transaction is gone
        budget = cron_budget.Budget(self.env)
        group_size = self._get_group_size()
        done = 0
        Staging = self.with_context(ap_sync_deadline=budget.hard_deadline, ap_sync_stop_at=budget.cap)
        ahead = self.browse()
        while done < batch_size and (ahead or not budget.spent()):
            records = Staging._claim(limit=min(group_size, batch_size - done))
            if not records:
                break
            records._start_remote_calls()
            left = batch_size - done - len(records)
            ahead = self.browse()
            if left > 0 and not budget.spent():
                ahead = Staging.with_context(ap_sync_peek=records.ids)._claim(limit=min(group_size, left))
                ahead._start_remote_calls()
            handled = records._process()
            done += len(handled)
            self._commit_batch()
            self.env["ir.cron"]._notify_progress(done=done, remaining=self._count_waiting() or 0)
        self._finish_remote_calls()
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

    def _start_remote_calls(self):
        """Hook: send the platform calls these records will wait for (``ap.platform._call_many_start``)
        without waiting for the answers; their remote steps read them (see ``_get_remote_steps``)."""

    @api.model
    def _finish_remote_calls(self):
        """Hook: read (and so log) the answers of calls sent by ``_start_remote_calls`` that no record
        used, before the run commits."""

    @api.model
    def _drop_remote_calls(self):
        """Hook: forget calls left by a run that did not end (their transaction was rolled back)."""

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
        # Lookups (mappings, taxes, journals, priority rules) are remembered for this batch only.
        cache = self.env.cr.cache
        outer = cache.get(BATCH_LOOKUPS)
        cache[BATCH_LOOKUPS] = {}
        try:
            return self._process_runs()
        finally:
            if outer is None:
                cache.pop(BATCH_LOOKUPS, None)
            else:
                cache[BATCH_LOOKUPS] = outer

    def _process_runs(self):
        steps = self._get_processing_steps()
        names = [name for name, _method, _state in steps]
        remote = self._get_remote_steps()
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
