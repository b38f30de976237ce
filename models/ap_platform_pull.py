import json
import logging
from datetime import timedelta

from odoo import _, api, fields, models

from ..exceptions import IntakeError, PlatformCallError
from ..utils import cron_budget, input_guard
from .ap_invoice_staging import document_digest
from .ap_invoice_staging_ops import parse_platform_datetime as _parse_iso
from .ap_sync_event import ConcurrentIntake

_logger = logging.getLogger(__name__)

PULL_LOCK_NAMESPACE = 74201  # pg advisory lock class: one pull at a time per platform
DEFAULT_PAGE_SIZE = 100
# A page is {"data": [document, ...]}. It may be deeper than a document may be, so that a too deep
# document is refused on its own (the rest of the page is stored); a page deeper than this is unreadable.
PAGE_MAX_DEPTH = 256
MAX_CURSOR_LENGTH = 4096


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    pull_high_watermark = fields.Datetime(
        copy=False, readonly=True, help="Newest updated_at seen in the listing under way."
    )

    @api.model
    def _cron_pull(self, page_size=DEFAULT_PAGE_SIZE):
        """Scheduled action: pull every platform whose pull is due, page by page, one transaction per
        page (the page and the cursor past it commit together). Stops once the run's time budget
        (utils/cron_budget) is spent, then triggers itself and reports the platforms with pages left."""
        budget = cron_budget.Budget(self.env)
        now = fields.Datetime.now()
        more = self.search(
            [("mode", "in", ("pull", "both")), "|", ("pull_next_at", "=", False), ("pull_next_at", "<=", now)],
            order="priority desc, sequence, id",
        )  # fmt: skip
        done = 0
        while more and not budget.spent():
            still = self.browse()
            for platform in more:
                if budget.spent():
                    still |= platform
                    continue
                if platform.with_context(ap_sync_deadline=budget.hard_deadline)._pull_page(page_size):
                    still |= platform
                done += 1
                self._commit_batch()
            more = still
        cron_budget.hand_over(self.env, "account_ap_sync.ir_cron_ap_sync_pull", done, len(more))
        return len(more)

    def _commit_batch(self):
        """Commit the page just stored (inside a cron run only; see utils/cron_budget.commit)."""
        cron_budget.commit(self.env)

    def action_pull_now(self):
        self.ensure_one()
        self.check_access("write")
        pages = 0
        while self.sudo()._pull_page() and pages < 50:
            pages += 1
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Pull: %s", self.name),
                "message": _("Pull done; see the sync log."),
                "type": "info",
            },
        }

    def _pull_page(self, page_size=DEFAULT_PAGE_SIZE):
        """Fetch and store one page. Returns True when more pages are waiting.

        The page and the cursor pointing past it are committed together (one transaction), so the
        cursor never runs ahead of what is stored. Another pull of the same platform holding the
        lock makes this one skip.
        """
        self.ensure_one()
        self.env.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PULL_LOCK_NAMESPACE, self.id])
        if not self.env.cr.fetchone()[0]:
            _logger.info("AP Sync pull %s: another pull is running, skipped", self.code)
            return False
        try:
            page = self._list_documents(self.pull_cursor or None, page_size)
        except PlatformCallError as exc:
            return self._pull_failed(exc.reason, exc.retry_after if exc.transient else None)
        documents, next_cursor = page["documents"], page.get("next_cursor")
        invoices = [document["data"] for document in documents]
        try:
            with self.env.cr.savepoint():
                stored = self._pull_store(invoices, raws=[document.get("raw") for document in documents])
        except ConcurrentIntake:
            # A webhook stored one of these documents at the same moment: try the page again in a new transaction.
            return True
        watermark = max(
            [d for d in (_parse_iso(inv.get("updated_at")) for inv in invoices if isinstance(inv, dict)) if d]
            + ([self.pull_high_watermark] if self.pull_high_watermark else []),
            default=None,
        )
        values = {"pull_high_watermark": watermark}
        if next_cursor:
            values["pull_cursor"] = next_cursor
        else:
            values.update(
                pull_cursor=False,
                pull_updated_since=watermark or self.pull_updated_since,
                pull_high_watermark=False,
                pull_next_at=fields.Datetime.now() + timedelta(minutes=self.pull_interval or 15),
            )
        self.sudo().write(values)
        if stored:
            self.env.ref("account_ap_sync.ir_cron_ap_sync_process").sudo()._trigger()
        return bool(next_cursor)

    def _pull_failed(self, message, delay=None):
        """Leave cursor and watermark as they are; try again after Retry-After or the pull interval."""
        wait = timedelta(seconds=delay) if delay is not None else timedelta(minutes=self.pull_interval or 15)
        self.sudo().write({"pull_next_at": fields.Datetime.now() + wait})
        _logger.info("AP Sync pull %s failed (%s); next try in %s", self.code, message, wait)
        return False

    def _pull_store(self, invoices, raws=None):
        """Store pulled invoices through the webhook's own intake path. Returns how many were new work.

        ``raws``: the provider's own bytes of each invoice (kept as the raw payload), when it has them.
        A document refused at intake (not an object, NUL or lone surrogate, too deep, schema violation)
        is logged with its raw bytes and named by an exception; the rest of the page is stored.
        """
        Event = self.env["ap.sync.event"]
        stored = 0
        for index, item in enumerate(invoices):
            invoice = item if isinstance(item, dict) else {"invalid": item}
            refusal = self._pull_check_document(item, index)
            envelope = {"type": "invoice.approved", "timestamp": invoice.get("updated_at"), "data": item}
            raw = raws[index] if raws and index < len(raws) else None
            if not raw:
                # A refused document is kept as an ASCII-escaped JSON text: any string fits.
                raw = (
                    json.dumps(envelope, separators=(",", ":"), default=str).encode()
                    if refusal
                    else Event._serialize_envelope(envelope)
                )
            webhook_id = self._pull_message_id(invoice)
            if refusal:
                self._pull_refuse(invoice, index, webhook_id, raw, *refusal)
                continue
            status, _body, event = Event._store(self, webhook_id, envelope, raw, source="pull")
            if status == 202 and event.staging_id:
                stored += 1
        return stored

    @api.model
    def _pull_message_id(self, invoice):
        version = invoice.get("updated_at") or document_digest(invoice)[:16]
        return input_guard.clean_text(f"pull:{invoice.get('id')}:{version}"[:255])

    @api.model
    def _pull_check_document(self, item, index):
        """None for a document intake accepts, else ``(http_status, answer)`` as the webhook would give."""
        if not isinstance(item, dict):
            return 400, {
                "error": "invalid_envelope",
                "detail": f"document {index} of the page is not a JSON object",
            }
        try:
            input_guard.check_value(item)
        except IntakeError as exc:
            return exc.status, exc.body
        errors = self._validate_envelope({"type": "invoice.approved", "data": item})
        if errors:
            return 422, {"error": "schema_violation", "errors": errors}
        return None

    def _pull_refuse(self, invoice, index, webhook_id, raw, status, answer):
        """Log a refused document (raw bytes kept) and open, or update, the exception naming it."""
        document = input_guard.clean_text(str(invoice.get("id") or "")[:200]) or f"#{index + 1}"
        number = input_guard.clean_text(str(invoice.get("number") or "")[:200])
        number = " (%s)" % number if number else ""  # no f-string inside _(): Babel skips the file
        detail = answer.get("detail") or "; ".join(
            f"{error['path'] or '/'}: {error['message']}" for error in answer.get("errors", [])
        )
        log = self.env["ap.sync.log"]._log_call(
            platform=self,
            direction="inbound",
            method="GET",
            endpoint="/invoices (pull)",
            event_type="invoice.approved",
            event_id=webhook_id,
            http_status=status,
            outcome="rejected",
            error=json.dumps(input_guard.clean(answer), ensure_ascii=False)[:2000],
            request_body=raw,
        )
        description = _(
            "Pulled document %(doc)s%(number)s was refused at intake and not stored: %(detail)s\n"
            "The raw document is kept on sync log entry %(log)s. Have it corrected on the platform; "
            "its next version is pulled as usual.",
            doc=document,
            number=number,
            detail=input_guard.clean_text(detail)[:1000],
            log=log.id,
        )
        self.env["ap.sync.exception"]._raise_for(
            "intake_refused", description, platform=self, document_ref=document, log=log
        )
