import logging
from datetime import datetime, timedelta, timezone

from odoo import _, api, fields, models

from ..exceptions import PlatformCallError
from .ap_invoice_staging import document_digest
from .ap_sync_event import ConcurrentIntake

_logger = logging.getLogger(__name__)

PULL_LOCK_NAMESPACE = 74201  # pg advisory lock class: one pull at a time per platform
DEFAULT_PAGE_SIZE = 100


def _parse_iso(value):
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    pull_high_watermark = fields.Datetime(
        copy=False, readonly=True, help="Newest updated_at seen in the listing under way."
    )

    @api.model
    def _cron_pull(self, page_size=DEFAULT_PAGE_SIZE):
        """Scheduled action: one page for every platform whose pull is due. Odoo commits after each
        call and calls again while ``_notify_progress`` reports platforms with pages left."""
        now = fields.Datetime.now()
        platforms = self.search(
            [("mode", "in", ("pull", "both")), "|", ("pull_next_at", "=", False), ("pull_next_at", "<=", now)],
            order="priority desc, sequence, id",
        )  # fmt: skip
        more = sum(1 for platform in platforms if platform._pull_page(page_size))
        self.env["ir.cron"]._notify_progress(done=len(platforms), remaining=more)
        return more

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
            return self._pull_failed(str(exc.args[0]), exc.retry_after)
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

        ``raws``: the provider's own bytes of each invoice (kept as the raw payload), when it has them."""
        Event = self.env["ap.sync.event"]
        stored = 0
        for index, item in enumerate(invoices):
            invoice = item if isinstance(item, dict) else {"invalid": item}
            envelope = {"type": "invoice.approved", "timestamp": invoice.get("updated_at"), "data": invoice}
            raw = (raws[index] if raws and index < len(raws) else None) or Event._serialize_envelope(envelope)
            version = invoice.get("updated_at") or document_digest(invoice)[:16]
            webhook_id = f"pull:{invoice.get('id')}:{version}"[:255]
            errors = self._validate_envelope(envelope)
            if errors:
                self.env["ap.sync.log"]._log_call(
                    platform=self,
                    direction="inbound",
                    method="GET",
                    endpoint="/invoices (pull)" if self.provider == "generic" else "pull",
                    event_type="invoice.approved",
                    event_id=webhook_id,
                    http_status=422,
                    outcome="rejected",
                    error=str({"error": "schema_violation", "errors": errors})[:2000],
                    request_body=raw,
                )
                continue
            status, _body, event = Event._store(self, webhook_id, envelope, raw, source="pull")
            if status == 202 and event.staging_id:
                stored += 1
        return stored
