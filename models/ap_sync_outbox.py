"""Transactional outbox: everything Odoo sends to a platform.

A message is written in the same transaction as the business change that causes it, and delivered
after commit by a cron that claims with ``FOR UPDATE SKIP LOCKED``. The row stays locked while it is
sent: a crash between sending and recording the answer rolls back to *pending*, and the message is
sent again with the same Idempotency-Key, which the platform recognises.
"""

import logging
import random
import uuid
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import PlatformCallError
from ..utils import cron_budget
from ..utils.access import check_manager
from .ap_sync_exception import OPEN_STATES

_logger = logging.getLogger(__name__)

STATES = [("pending", "Pending"), ("done", "Delivered"), ("dead", "Dead Letter"), ("cancelled", "Cancelled")]
# Protected: set by the module only, never through a form or an import (cf. OCA queue_job).
PROTECTED_FIELDS = {
    "idempotency_key", "payload", "method", "path", "platform_id", "document_key", "state", "attempts",
    "next_attempt_at", "last_status", "last_error", "done_at", "kind", "target",
}  # fmt: skip


class ApSyncOutbox(models.Model):
    _name = "ap.sync.outbox"
    _description = "AP Sync Outbox Message"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"

    platform_id = fields.Many2one(
        "ap.platform", required=True, index=True, ondelete="restrict", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    kind = fields.Selection(
        [
            ("erp_status", "ERP status"),
            ("vendor", "Vendor"),
            ("purchase_order", "Purchase order"),
            ("vendor_request", "Vendor request answer"),
        ],
        required=True,
        readonly=True,
    )
    status = fields.Char(
        string="Status Sent", readonly=True, help="For erp-status messages: the status value."
    )
    target = fields.Char(
        readonly=True,
        help="The platform's id of what the message is about (document, vendor, PO). With the kind and the "
        "canonical payload, the platform's provider renders the call at each delivery.",
    )
    method = fields.Char(required=True, readonly=True, help="As rendered when the message was written.")
    path = fields.Char(required=True, readonly=True, help="As rendered when the message was written.")
    payload = fields.Json(
        readonly=True, help="The canonical payload (the provider renders the body from it)."
    )
    idempotency_key = fields.Char(
        required=True, readonly=True, copy=False, index=True, default=lambda self: str(uuid.uuid4())
    )
    document_key = fields.Char(
        required=True, readonly=True, index=True, help="Messages of one document are delivered in order."
    )
    res_model = fields.Char(readonly=True)
    res_id = fields.Many2oneReference(model_field="res_model", readonly=True)
    staging_id = fields.Many2one(
        "ap.invoice.staging", readonly=True, index="btree_not_null", ondelete="set null"
    )
    # Not tracked: a chatter message per delivery attempt is noise; dead letters and replays are posted.
    state = fields.Selection(STATES, required=True, default="pending", readonly=True, index=True)
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(readonly=True, index=True)
    last_status = fields.Integer(string="Last HTTP Status", readonly=True)
    last_error = fields.Text(readonly=True)
    done_at = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("idempotency_key_uniq", "unique(idempotency_key)", "An Idempotency-Key names one message."),
    ]

    def _compute_display_name(self):
        for message in self:
            message.display_name = f"{message.method} {message.path} ({message.status or message.kind})"

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            raise UserError(_("Outbox messages are written by the module only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and PROTECTED_FIELDS & set(vals):
            raise UserError(
                _(
                    "These fields of an outbox message are set by the module only: %s",
                    ", ".join(sorted(PROTECTED_FIELDS & set(vals))),
                )
            )
        return super().write(vals)

    # ------------------------------------------------------------------ writing
    @api.model
    def _enqueue_message(
        self, platform, kind, payload, target, document_key, source=None, staging=None, status=None
    ):
        """Write a message of ``kind`` with its canonical ``payload`` about ``target``; it is sent after
        commit, rendered by the platform's provider at delivery. Returns the message, or an empty
        recordset when the provider has no such call (nothing is queued then)."""
        rendered = platform._render_outbound(kind, payload, target=target)
        if rendered is None:
            _logger.debug(
                "AP Sync %s: provider %s has no call for %s messages", platform.code, platform.provider, kind
            )
            return self.browse()
        return self._enqueue(
            platform, kind, rendered["method"], rendered["path"], payload, document_key,
            source=source, staging=staging, status=status, target=target,
        )  # fmt: skip

    @api.model
    def _enqueue(
        self, platform, kind, method, path, payload, document_key, source=None, staging=None, status=None,
        target=None,
    ):  # fmt: skip
        """Write a message in the current transaction; it is sent after commit.

        Without ``target``, ``method``/``path``/``payload`` are sent as given; with it, the provider
        renders the call again at delivery (see ``_enqueue_message``)."""
        values = {
            "platform_id": platform.id,
            "company_id": platform.company_id.id,
            "kind": kind,
            "method": method,
            "path": path,
            "payload": payload,
            "target": target or False,
            "document_key": document_key,
            "status": status,
            "staging_id": staging.id if staging else False,
            "res_model": source._name if source else False,
            "res_id": source.id if source else False,
        }
        message = (
            self.sudo().with_context(mail_create_nolog=True, mail_create_nosubscribe=True).create(values)
        )
        self._trigger_delivery()
        return message

    @api.model
    def _trigger_delivery(self):
        """Wake the delivery cron once the transaction commits: one trigger per transaction, not one
        per message (a processing group writes several). ``precommit.data`` is emptied when the
        transaction is flushed for a commit or rolled back, so the next transaction triggers again."""
        data = self.env.cr.precommit.data
        if data.get("ap_sync_delivery_triggered"):
            return
        cron = self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver", raise_if_not_found=False)
        if cron:
            # Woken after commit over the process's kept connection (utils/cron_wakeup), once per
            # transaction.
            cron.sudo().with_context(ap_sync_kept_notify=True)._trigger()
            data["ap_sync_delivery_triggered"] = True

    # ------------------------------------------------------------------ delivery
    @api.model
    def _claim(self, limit=100):
        """Due pending messages whose document has no earlier message still pending or dead; skip locked."""
        self.flush_model()
        self.env.cr.execute(
            """SELECT o.id FROM ap_sync_outbox o
                WHERE o.state = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now() at time zone 'utc')
                  AND NOT EXISTS (
                      SELECT 1 FROM ap_sync_outbox e
                       WHERE e.platform_id = o.platform_id AND e.document_key = o.document_key
                         AND e.id < o.id AND e.state IN ('pending', 'dead'))
                ORDER BY o.priority DESC, o.id LIMIT %s FOR UPDATE SKIP LOCKED""",
            [limit],
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _get_group_size(self):
        """Messages claimed (and committed) together: four times what the platform takes at once, so
        the sliding window of ``_call_many`` stays full for most of a group (it drains at the group's
        end) and the claim, commit and progress report are shared by more messages; at most 40."""
        self.env.cr.execute("SELECT max(max_concurrent_calls) FROM ap_platform WHERE active")
        return max(1, min(4 * (self.env.cr.fetchone()[0] or 1), 40))

    def _commit_batch(self):
        """Commit the group just delivered (inside a cron run only; see utils/cron_budget.commit)."""
        cron_budget.commit(self.env)

    @api.model
    def _count_due(self):
        self.flush_model(["state", "next_attempt_at"])
        self.env.cr.execute(
            """SELECT count(*) FROM ap_sync_outbox
                WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now() at time zone 'utc')"""
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _cron_deliver(self, batch_size=1000):
        """Scheduled action: deliver due messages in small groups, one transaction per group.

        A group holds at most one message per document (see ``_claim``), so its messages go out
        concurrently (``ap.platform._call_many``) while each document's messages keep their order.
        Claiming stops once the run's time budget (utils/cron_budget) is spent or ``batch_size``
        messages are done; the cron then triggers itself and reports what remains.
        """
        budget = cron_budget.Budget(self.env)
        group_size = self._get_group_size()
        done = 0
        Outbox = self.with_context(ap_sync_deadline=budget.hard_deadline)
        while done < batch_size and not budget.spent():
            messages = Outbox._claim(limit=min(group_size, batch_size - done))
            if not messages:
                break
            messages._deliver()
            done += len(messages)
            self._commit_batch()
            self.env["ir.cron"]._notify_progress(done=done, remaining=self._count_due())
        remaining = self._count_due()
        cron_budget.hand_over(self.env, "account_ap_sync.ir_cron_ap_sync_deliver", done, remaining)
        self._schedule_next_wakeup()
        return done

    @api.model
    def _schedule_next_wakeup(self):
        """Wake the cron when the earliest backed-off message is due (not before its interval)."""
        self.env.cr.execute("SELECT min(next_attempt_at) FROM ap_sync_outbox WHERE state = 'pending'")
        when = self.env.cr.fetchone()[0]
        if when and when > fields.Datetime.now():
            self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver").sudo()._trigger(when)

    def _delivery_call(self, request=None):
        """The :meth:`ap.platform._call` keywords that deliver this message, from the request its
        provider renders now (see :meth:`_get_request`)."""
        self.ensure_one()
        request = request or self._get_request()
        return {
            "method": request["method"], "path": request["path"], "payload": request.get("payload"),
            "idempotency_key": self.idempotency_key, "event_type": f"outbox.{self.status or self.kind}",
            "log_values": {"staging_id": self.staging_id.id or None, "reference": f"OUT-{self.id}"},
            "raise_for_status": True,
        }  # fmt: skip

    def _deliver(self):
        """Send these messages, each platform's concurrently within its Max concurrent calls; the
        sync-log entries and the delivered states are written per batch."""
        logs, delivered = [], {}
        for platform in self.platform_id:
            to_send, calls = self.browse(), []
            for message in self.filtered(lambda m, p=platform: m.platform_id == p):
                if message._cancel_if_superseded():
                    continue
                request = message._get_request_or_cancel()
                if request is not None:
                    to_send |= message
                    calls.append(message._delivery_call(request))
            results = platform._call_many(calls, deferred_logs=logs)
            for message, result in zip(to_send, results):
                status = message._record_answer(result, write_done=False)
                if status:
                    delivered.setdefault((message.attempts + 1, status), []).append(message.id)
        now = fields.Datetime.now()
        for (attempts, status), ids in delivered.items():
            self.browse(ids).sudo().write(
                {
                    "state": "done",
                    "done_at": now,
                    "last_status": status,
                    "attempts": attempts,
                    "last_error": False,
                }
            )
        self.env["ap.sync.log"]._log_calls(logs)

    def _cancel_if_superseded(self):
        newer = self._get_superseding()
        if newer:
            self.sudo().write(
                {"state": "cancelled", "last_error": _("Superseded by OUT-%s (newer data).", newer.id)}
            )
        return bool(newer)

    def _deliver_one(self, deferred_logs=None):
        """Send one message. Returns the HTTP status when delivered, else False."""
        self.ensure_one()
        if self._cancel_if_superseded():
            return False
        request = self._get_request_or_cancel()
        if request is None:
            return False
        try:
            result = self.platform_id._call(**self._delivery_call(request), deferred_logs=deferred_logs)
        except PlatformCallError as exc:
            result = exc
        return self._record_answer(result, write_done=deferred_logs is None)

    def _record_answer(self, result, write_done=True):
        """Act on one answer: delivered (returns its status), retried later or dead, as the
        :class:`PlatformCallError` decides (transient or not, Retry-After)."""
        if isinstance(result, PlatformCallError):
            if result.ignore_retry:
                return self._wait(result.reason, result.retry_after)
            if result.transient:
                return self._retry_later(result.status, result.reason, result.retry_after)
            if result.status is None:  # refused before a call was made (e.g. no base URL)
                return self._mark_dead(None, _("Not sent: %s", result.reason))
            return self._mark_dead(
                result.status, _("Refused by the platform (HTTP %(status)s): %(detail)s",
                                 status=result.status, detail=result.reason),
            )  # fmt: skip
        status = result.status_code
        if write_done:
            self.sudo().write({"state": "done", "done_at": fields.Datetime.now(), "last_status": status,
                               "attempts": self.attempts + 1, "last_error": False})  # fmt: skip
        return status

    def _get_request_or_cancel(self):
        """The rendered request, or None after cancelling the message (never a dead letter) when the
        platform's provider has no call for it."""
        request = self._get_request()
        if request is None:
            self.sudo().write({"state": "cancelled", "last_error": _(
                "The platform's provider (%s) has no call for this message: nothing to send.",
                self.platform_id.provider,
            )})  # fmt: skip
        return request

    def _get_request(self):
        """``{"method", "path", "payload"}`` to send for this message, rendered now by the platform's
        provider (so a replay re-renders), or None when the provider has no such call."""
        self.ensure_one()
        if not self.target:  # written with an explicit call
            return {"method": self.method, "path": self.path, "payload": self.payload}
        return self.platform_id._render_outbound(self.kind, self.payload, target=self.target, message=self)

    def _get_superseding(self):
        """Hook: a newer message that makes this one pointless (see ap_sync_publish)."""
        return self.browse()

    def _get_backoff(self, attempt, retry_after=None):
        """Full jitter: random(0, min(cap, base * 2^attempt)), never less than Retry-After."""
        platform = self.platform_id
        ceiling = min(platform.retry_cap, platform.retry_base * (2**attempt))
        delay = random.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _retry_later(self, status, error, retry_after=None):
        attempts = self.attempts + 1
        if attempts >= self.platform_id.retry_max_attempts:
            return self._mark_dead(
                status, _("Gave up after %(n)s attempts: %(error)s", n=attempts, error=error), attempts
            )
        delay = self._get_backoff(attempts, retry_after)
        self.sudo().write({
            "attempts": attempts, "last_status": status or 0, "last_error": error,
            "next_attempt_at": fields.Datetime.now() + timedelta(seconds=delay),
        })  # fmt: skip
        return False

    def _wait(self, error, delay=None):
        """The call was not made for a fault of this database (``PlatformCallError.ignore_retry``):
        wait and try again, without using an attempt; the platform's exception tells people why."""
        delay = delay if delay is not None else self.platform_id.retry_cap
        self.sudo().write(
            {"last_error": error, "next_attempt_at": fields.Datetime.now() + timedelta(seconds=delay)}
        )
        return False

    def _mark_dead(self, status, error, attempts=None):
        self.sudo().write({"state": "dead", "last_status": status or 0, "last_error": error,
                           "attempts": attempts or self.attempts + 1})  # fmt: skip
        # One queue item (with one activity) for a person, never one per attempt.
        self.env["ap.sync.exception"]._raise_for("delivery_failed", error, outbox=self)
        if self.staging_id:
            self.staging_id.message_post(body=_("Message to the platform is dead: %s", error))
        _logger.warning("AP Sync outbox %s dead: %s", self.id, error)
        return False

    # ------------------------------------------------------------------ people
    def action_replay(self):
        """Send dead (or cancelled) messages again, with the same Idempotency-Key."""
        check_manager(self.env, _("Only an AP Sync manager may replay messages."))
        messages = self.filtered(lambda m: m.state in ("dead", "cancelled"))
        messages.sudo().write(
            {"state": "pending", "attempts": 0, "next_attempt_at": False, "last_error": False}
        )
        self.env["ap.sync.exception"].sudo().search(
            [("outbox_id", "in", messages.ids), ("state", "in", OPEN_STATES)]
        )._resolve(_("Replayed by %s.", self.env.user.name))
        for message in messages:
            message.message_post(body=_("Replayed by %s (same Idempotency-Key).", self.env.user.name))
        if messages:
            self.env.ref("account_ap_sync.ir_cron_ap_sync_deliver").sudo()._trigger()
        return True

    def action_cancel(self):
        check_manager(self.env, _("Only an AP Sync manager may cancel messages."))
        self.filtered(lambda m: m.state in ("pending", "dead")).sudo().write({"state": "cancelled"})
        return True
