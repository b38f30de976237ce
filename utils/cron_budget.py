"""Time budget of a cron run: stop claiming work well before the worker is killed.

Odoo kills a cron worker whose pass over a database lasts longer than ``limit_time_real_cron``
(else ``limit_time_real``), and one pass runs every ready job, each up to ten times in a row while
it reports work remaining. So the budget is measured from the start of the pass, not of one call:
``ir.cron._process_job`` (models/ir_cron.py) marks when a pass starts, per thread.

The budget is ``account_ap_sync.cron_time_budget_ratio`` (system parameter, default 0.5) of the
effective limit. A run that spends it commits what is done, triggers its cron again and reports
the rest through ``_notify_progress``.
"""

import threading
import time
import weakref
from datetime import datetime, timezone

from odoo.tools import config

RATIO_PARAM = "account_ap_sync.cron_time_budget_ratio"
DEFAULT_RATIO = 0.5
# Without any limit (limit_time_real 0), a run still hands over regularly.
UNLIMITED_BUDGET = 300.0

_pass = threading.local()


def mark_pass(cron_cr):
    """Called for every job a cron pass runs: the first job of a new pass (new cursor) sets the clock."""
    ref = getattr(_pass, "cursor", None)
    if ref is None or ref() is not cron_cr:
        _pass.cursor = weakref.ref(cron_cr)
        _pass.started = time.monotonic()
        _pass.sliced = set()


def effective_limit():
    """The real-time limit (seconds) the cron worker runs under, or None when there is none."""
    cron_limit = config.get("limit_time_real_cron") or 0
    if cron_limit and cron_limit > 0:
        return float(cron_limit)
    limit = config.get("limit_time_real") or 0
    return float(limit) if limit and limit > 0 else None


def pass_started(env):
    """Monotonic time the current cron pass started, or None outside a cron run."""
    if not env.context.get("cron_id"):
        return None
    thread_start = getattr(threading.current_thread(), "start_time", None)
    if thread_start:  # threaded server: the exact start of the pass, in wall-clock seconds
        return time.monotonic() - max(0.0, time.time() - thread_start)
    ref = getattr(_pass, "cursor", None)
    return getattr(_pass, "started", None) if ref is not None and ref() is not None else None


class Budget:
    """Deadline of one cron run (``spent()``, ``left()``); ``hard_deadline`` bounds the calls in flight.

    Measured from the start of the cron pass: ``ratio`` x the effective limit. A job that starts
    after an earlier one spent the pass's budget still gets a short slice (a fifth of the budget,
    once per pass), so that the delivery cron is not starved by a long processing run; nothing
    ever goes past 0.8 x the limit.
    """

    MIN_SLICE = 0.2
    CAP = 0.8
    HARD = 0.85

    def __init__(self, env, start=None):
        try:
            ratio = float(env["ir.config_parameter"].sudo().get_param(RATIO_PARAM, DEFAULT_RATIO))
        except (TypeError, ValueError):
            ratio = DEFAULT_RATIO
        ratio = min(max(ratio, 0.05), self.CAP)
        limit = effective_limit() or UNLIMITED_BUDGET / ratio
        now = time.monotonic()
        self.seconds = ratio * limit
        self.started = start or pass_started(env) or now
        self.deadline = self.started + self.seconds
        sliced = getattr(_pass, "sliced", None)
        cron_id = env.context.get("cron_id")
        if (
            self.deadline - now < self.MIN_SLICE * self.seconds
            and sliced is not None
            and cron_id not in sliced
        ):
            sliced.add(cron_id)
            self.deadline = min(now + self.MIN_SLICE * self.seconds, self.started + self.CAP * limit)
        # Work already claimed goes on past the budget up to ``cap`` (then it is left for the next run);
        # calls started before then still end before the worker is killed.
        self.cap = self.started + self.CAP * limit
        self.hard_deadline = self.started + self.HARD * limit

    def left(self):
        return self.deadline - time.monotonic()

    def spent(self):
        return self.left() <= 0


def hand_over(env, cron_xmlid, done, remaining):
    """Report progress to ``ir.cron``; when work remains, make sure the cron runs again soon.

    The trigger is timed to the microsecond: Odoo removes the triggers older than the start of the
    run it just finished, and a trigger rounded down to the second could be one of them. The cron
    workers are woken (NOTIFY) once this transaction commits.
    """
    if remaining:
        cron = env.ref(cron_xmlid, raise_if_not_found=False)
        if cron:
            cron = cron.sudo()
            cron._trigger(datetime.now(timezone.utc).replace(tzinfo=None))
            env.cr.postcommit.add(cron._notifydb)
    env["ir.cron"]._notify_progress(done=done, remaining=remaining)


def commit(env):
    """Commit the work done so far, inside a cron run only (a person's action or a test commits
    as a whole). Overridable through the models' ``_commit_batch``."""
    if env.context.get("cron_id"):
        env.cr.commit()
