import hashlib
import json
import logging

from psycopg2 import errors as pg_errors

from odoo import api, fields, models

from ..utils import schema
from .decimal_precision import remembered_precisions

_logger = logging.getLogger(__name__)


class ConcurrentIntake(Exception):
    """Another transaction stored the same message or document first: roll back, then try again.

    Odoo runs in REPEATABLE READ; the winner's row is invisible to this transaction's snapshot, so
    the caller must start a new transaction to see it (and answer "duplicate").
    """


class ApSyncEvent(models.Model):
    """One event accepted from a platform (webhook or pull), with its raw payload as received.

    Message-level idempotency: unique (platform, webhook id). The payload is kept as an attachment
    with its sha256, whatever happens to the event afterwards.
    """

    _name = "ap.sync.event"
    _description = "AP Sync Inbound Event"
    _order = "id desc"
    _rec_name = "webhook_id"

    platform_id = fields.Many2one(
        "ap.platform", required=True, index=True, ondelete="restrict", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    webhook_id = fields.Char(
        string="Message ID",
        required=True,
        readonly=True,
        help="webhook-id header (pulled invoices: pull:<id>:<version>).",
    )
    event_type = fields.Char(required=True, index=True, readonly=True)
    source = fields.Selection([("webhook", "Webhook"), ("pull", "Pull")], required=True, readonly=True)
    document_id = fields.Char(string="Platform Document ID", index=True, readonly=True)
    event_timestamp = fields.Char(readonly=True, help="timestamp of the envelope, as sent.")
    payload_attachment_id = fields.Many2one("ir.attachment", string="Raw Payload", readonly=True)
    payload_sha256 = fields.Char(string="Payload SHA-256", readonly=True)
    payload_size = fields.Integer(readonly=True)
    staging_id = fields.Many2one("ap.invoice.staging", index=True, readonly=True, ondelete="set null")
    state = fields.Selection(
        [
            ("received", "Received"),
            ("applied", "Applied"),
            ("unchanged", "Unchanged"),
            ("stale", "Stale"),
            ("flagged", "Needs review"),
            ("ignored", "Ignored"),
        ],
        required=True,
        default="received",
        readonly=True,
        help="Applied: created or updated its staging record. Unchanged: same document content as already "
        "stored. Stale: older than the version stored. Needs review: arrived after the bill was created.",
    )
    note = fields.Text(readonly=True)

    _sql_constraints = [
        ("platform_webhook_uniq", "unique(platform_id, webhook_id)", "This message was already received."),
    ]

    # ------------------------------------------------------------------ intake (shared by webhook and pull)
    @api.model
    def _find_duplicate(self, platform, webhook_id):
        return self.sudo().search(
            [("platform_id", "=", platform.id), ("webhook_id", "=", webhook_id)], limit=1
        )

    @api.model
    def _store(self, platform, webhook_id, envelope, raw_body, source="webhook", checked=False):
        """Store one verified, validated event and apply it. Returns ``(http_status, body, event)``.

        ``checked``: the caller already looked for ``webhook_id`` in this transaction and found nothing
        (the webhook does, before parsing), so it is not searched again.

        Raises :class:`ConcurrentIntake` when a concurrent transaction stored the same message or
        document first; the transaction is then aborted: the caller rolls back (to a savepoint of its
        own, or the whole transaction) and calls again in a new transaction.
        """
        event_type = envelope["type"]
        data = envelope.get("data")
        existing = not checked and self._find_duplicate(platform, webhook_id)
        if existing:
            return 200, existing._answer("duplicate"), existing
        document_id = data.get("id") if isinstance(data, dict) and event_type.startswith("invoice.") else None
        if event_type.startswith("vendor.") and isinstance(data, dict):
            document_id = data.get("external_id")
        # In the platform's company, webhook or pull: the payload's attachment belongs to it too.
        Event = self.sudo().with_context(
            mail_create_nolog=True,
            mail_create_nosubscribe=True,
            mail_notrack=True,
            allowed_company_ids=platform.company_id.ids,
        )
        # No savepoint of its own: a unique violation aborts the transaction, which every caller rolls
        # back anyway (ConcurrentIntake); two statements and a flush less per webhook.
        try:
            event = Event.create(
                {
                    "platform_id": platform.id,
                    "company_id": platform.company_id.id,
                    "webhook_id": webhook_id,
                    "event_type": event_type,
                    "source": source,
                    "document_id": document_id,
                    "event_timestamp": str(envelope.get("timestamp") or "")[:64] or False,
                    "payload_sha256": hashlib.sha256(raw_body).hexdigest(),
                    "payload_size": len(raw_body),
                }
            )
        except pg_errors.UniqueViolation as exc:
            raise ConcurrentIntake(webhook_id) from exc
        event._attach_payload(raw_body)
        handler = self._get_event_handlers().get(event_type)
        if handler:
            # The document's values are converted in this one transaction: its decimal precisions are
            # read once (models/decimal_precision.py), not at every value.
            with remembered_precisions(self.env):
                getattr(event, handler)(data)
        return 202, event._answer("accepted"), event

    @api.model
    def _get_event_handlers(self):
        """Event type -> method applying it (overridable: add a type by extending this map)."""
        return {
            "invoice.approved": "_apply_invoice_approved",
            "invoice.rejected": "_apply_invoice_withdrawn",
            "invoice.voided": "_apply_invoice_withdrawn",
            "vendor.onboarding_requested": "_apply_vendor_request",
            "vendor.updated": "_apply_vendor_request",
        }

    @api.model
    def _get_event_schemas(self):
        """Event type -> (schema name, version field or None) used to validate its data (overridable:
        a module adding an event type adds its schema here)."""
        return dict(schema.EVENT_SCHEMAS)

    @api.model
    def _serialize_envelope(self, envelope):
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

    def _answer(self, status):
        self.ensure_one()
        return {
            "status": status,
            "event_id": self.webhook_id,
            "reference": self.staging_id.name or f"EVT-{self.id}",
        }

    def _attach_payload(self, raw_body):
        self.ensure_one()
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"{self.event_type}-{self.webhook_id}.json"[:200],
                    "raw": raw_body,
                    "mimetype": "application/json",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
        )
        self.payload_attachment_id = attachment

    def _apply_invoice_approved(self, data):
        self.env["ap.invoice.staging"].sudo()._intake_invoice(self, data)

    def _apply_invoice_withdrawn(self, data):
        self.env["ap.invoice.staging"].sudo()._intake_withdrawal(self, data)

    def _apply_vendor_request(self, data):
        self.env["ap.vendor.request"].sudo()._from_event(self, data)

    def _mark(self, state, note=None, staging=None):
        values = {"state": state}
        if note:
            values["note"] = note
        if staging is not None:
            values["staging_id"] = staging.id
        self.sudo().write(values)
