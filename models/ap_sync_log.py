import json
import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import IntakeError
from ..utils import input_guard
from ..utils.redact import redact
from ..utils.retry import TRANSIENT_STATUSES

_logger = logging.getLogger(__name__)

RETENTION_PARAM = "account_ap_sync.log_retention_days"
DEFAULT_RETENTION_DAYS = 90


class ApSyncLog(models.Model):
    """Append-only journal of every request received from and every call made to a platform.

    Bodies are kept only as redacted attachments; secrets, signatures and API keys never reach it.
    """

    _name = "ap.sync.log"
    _description = "AP Sync Log"
    _order = "id desc"
    _rec_name = "endpoint"

    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")], required=True, index=True
    )
    platform_id = fields.Many2one("ap.platform", index=True, ondelete="restrict")
    company_id = fields.Many2one("res.company", index=True)
    method = fields.Char(string="HTTP Method")
    endpoint = fields.Char(required=True)
    event_type = fields.Char(index=True)
    event_id = fields.Char(
        string="Event / Message ID",
        index=True,
        help="webhook-id of an inbound event, " "Idempotency-Key of an outbound message.",
    )
    http_status = fields.Integer(string="HTTP Status")
    duration_ms = fields.Integer(string="Duration (ms)")
    outcome = fields.Selection(
        [
            ("success", "Success"),
            ("duplicate", "Duplicate"),
            ("rejected", "Rejected"),
            ("error", "Error"),
        ],
        required=True,
        index=True,
        help="Success: accepted or answered 2xx. Duplicate: a redelivery, no new work. Rejected: refused "
        "for good (4xx). Error: transient failure (timeout, connection error, 5xx, 429).",
    )
    error = fields.Text()
    reference = fields.Char(help="Business reference (staging record, bill, outbox message).")
    res_model = fields.Char(string="Related Model")
    res_id = fields.Many2oneReference(string="Related Record", model_field="res_model")
    staging_id = fields.Many2one(
        "ap.invoice.staging", string="Staging Record", index=True, ondelete="set null"
    )
    inbound_event_id = fields.Many2one("ap.sync.event", index=True, ondelete="set null")
    body_attachment_id = fields.Many2one("ir.attachment", string="Request Body", readonly=True)
    response_attachment_id = fields.Many2one("ir.attachment", string="Response Body", readonly=True)
    payload_purged = fields.Boolean(readonly=True)

    # ------------------------------------------------------------------ append-only
    def write(self, vals):
        if not self.env.context.get("ap_sync_log_internal"):
            raise UserError(_("Sync log entries are append-only: they cannot be changed."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        if not self.env.context.get("ap_sync_log_internal"):
            raise UserError(_("Sync log entries are append-only: they cannot be deleted."))

    def _compute_display_name(self):
        for log in self:
            arrow = "→" if log.direction == "outbound" else "←"
            log.display_name = f"{arrow} {log.method or ''} {log.endpoint} {log.http_status or ''}".strip()

    # ------------------------------------------------------------------ writing
    @api.model
    def _outcome_for_status(self, status):
        if status is None or status in TRANSIENT_STATUSES or status >= 500:
            return "error"
        if 200 <= status < 300:
            return "success"
        return "rejected"

    @api.model
    def _log_call(self, request_body=None, response_body=None, platform=None, **values):
        """Create one entry (as superuser); bodies become redacted JSON attachments."""
        return self._log_calls(
            [dict(values, request_body=request_body, response_body=response_body, platform=platform)]
        )

    @api.model
    def _log_calls(self, entries):
        """Create several entries in one go (a delivery batch): same rules as ``_log_call``."""
        vals_list, bodies = [], []
        for entry in entries:
            values = dict(entry)
            request_body, response_body = values.pop("request_body", None), values.pop("response_body", None)
            platform = values.pop("platform", None)
            if platform:
                values.setdefault("platform_id", platform.id)
                values.setdefault("company_id", platform.sudo().company_id.id)
            # Texts quoted from a refused request (its id, an error detail) may hold NUL or lone
            # surrogates, which PostgreSQL refuses: the entry is written anyway, with U+FFFD instead.
            vals_list.append(
                {key: input_guard.clean_text(value) for key, value in values.items() if value is not None}
            )
            bodies.append((request_body, response_body))
        logs = self.sudo().create(vals_list) if vals_list else self.sudo()
        for log, (request_body, response_body) in zip(logs, bodies):
            attachments = {}
            if request_body is not None:
                attachments["body_attachment_id"] = log._attach_body("request", request_body)
            if response_body is not None:
                attachments["response_attachment_id"] = log._attach_body("response", response_body)
            if attachments:
                log.with_context(ap_sync_log_internal=True).write(attachments)
        return logs

    def _attach_body(self, label, body):
        """Store a body as an attachment of this entry, redacted when it is JSON.

        A body the input guard refuses (too deep, NUL, lone surrogates) or that is not JSON is kept
        byte for byte as received, so that what was refused can be examined.
        """
        self.ensure_one()
        raw = None
        if isinstance(body, bytes | str):
            try:
                body = input_guard.load_json(body)
            except IntakeError:
                raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        if raw is None and input_guard.find_problem(body):
            raw = json.dumps(redact(body), indent=1, default=str).encode()  # ASCII escapes: any string fits
            mimetype, ext = "application/json", "json"
        elif raw is None:
            raw = json.dumps(redact(body), indent=1, ensure_ascii=False, default=str).encode()
            mimetype, ext = "application/json", "json"
        else:
            mimetype, ext = "application/octet-stream", "bin"
        return (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"sync-log-{self.id}-{label}.{ext}",
                    "raw": raw,
                    "mimetype": mimetype,
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
            .id
        )

    # ------------------------------------------------------------------ retention
    @api.model
    def _get_retention_days(self):
        value = self.env["ir.config_parameter"].sudo().get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS)
        try:
            return max(1, int(value))
        except (TypeError, ValueError):
            return DEFAULT_RETENTION_DAYS

    @api.model
    def _cron_purge_payloads(self, batch_size=1000):
        """Delete body attachments of entries older than the retention period; the entries stay."""
        limit_date = fields.Datetime.now() - timedelta(days=self._get_retention_days())
        logs = self.sudo().search(
            [("create_date", "<", limit_date), ("payload_purged", "=", False)], limit=batch_size
        )
        attachments = (logs.body_attachment_id | logs.response_attachment_id).sudo()
        count = len(attachments)
        attachments.unlink()
        logs.with_context(ap_sync_log_internal=True).write({"payload_purged": True})
        _logger.info("AP Sync: purged %d log payloads older than %s", count, limit_date)
        if len(logs) == batch_size:
            self.env.ref("account_ap_sync.ir_cron_ap_sync_log_purge")._trigger()
        return count
