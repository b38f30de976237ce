"""The provider seam of ``ap.platform``: every place where one AP platform differs from another.

Each method here is the implementation of the ``generic`` provider (the platform speaks this
module's own contract, docs/contract.md). A provider module extends ``provider`` with
``selection_add`` and overrides the methods it needs, guarded per provider, as Odoo's ``payment``
module does::

    def _verify_inbound(self, headers, raw, context):
        if self.provider != "rossum":
            return super()._verify_inbound(headers, raw, context)
        ...

The pipeline after intake and the outbox before rendering know nothing of providers: they see
canonical documents (data/schemas) and message kinds. See docs/providers.md.
"""

import logging
import re
import time

from standardwebhooks.webhooks import Webhook

from odoo import _, api, models

from ..exceptions import IntakeError, PlatformCallError
from ..utils import input_guard, schema
from ..utils.url import segment
from .ap_platform_pull import MAX_CURSOR_LENGTH, PAGE_MAX_DEPTH

_logger = logging.getLogger(__name__)

TIMESTAMP_TOLERANCE = 300  # seconds, both ways
WEBHOOK_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def _iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class ApPlatformProvider(models.Model):
    _inherit = "ap.platform"

    # ------------------------------------------------------------------ inbound: verify
    @api.model
    def _get_intake_fields(self):
        """The platform's fields a webhook request reads: the controller finds the platform and reads
        these in one query (controllers/webhook.py). A provider adds the fields its own steps read; a
        field left out is still read when used, by one more query."""
        return [
            "code", "active", "mode", "provider", "company_id", "neutralized", "environment",
            "max_payload_size", "webhook_secret_previous_expiry",
        ]  # fmt: skip

    def _verify_inbound(self, headers, raw, context):
        """Authenticate one webhook request. Returns ``(message_id, text)``: the provider's id of this
        delivery (a redelivery carries the same one) and the body as text; raises :class:`IntakeError`
        (401 JSON) for a request that is not the platform's.

        ``headers`` has lower-case names; ``raw`` is the body as received; ``context`` is a dict the
        provider may use to pass what it learnt to the later steps of the same request.
        Generic: Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature, ``whsec_`` secret).
        """
        self.ensure_one()
        self._check_standard_webhooks_timestamp(headers)
        text = self._check_standard_webhooks_signature(raw, headers)
        return headers["webhook-id"], text

    def _check_standard_webhooks_timestamp(self, headers):
        value = (headers.get("webhook-timestamp") or "").strip()
        if not value:
            raise IntakeError(
                401, {"error": "invalid_timestamp", "detail": "webhook-timestamp header missing"}
            )
        if not value.isdigit() or len(value) > 12:
            raise IntakeError(
                401,
                {"error": "invalid_timestamp", "detail": "webhook-timestamp must be integer Unix seconds"},
            )
        if abs(time.time() - int(value)) > TIMESTAMP_TOLERANCE:
            raise IntakeError(
                401,
                {
                    "error": "invalid_timestamp",
                    "detail": f"timestamp outside the {TIMESTAMP_TOLERANCE} s tolerance",
                },
            )

    def _check_standard_webhooks_signature(self, raw, headers):
        """Verify with the standardwebhooks library over the raw bytes; return the body as text."""
        if not headers.get("webhook-signature", "").strip():
            raise IntakeError(
                401, {"error": "invalid_signature", "detail": "webhook-signature header missing"}
            )
        webhook_id = headers.get("webhook-id", "")
        if not WEBHOOK_ID_PATTERN.match(webhook_id):
            raise IntakeError(
                401, {"error": "invalid_signature", "detail": "webhook-id header missing or malformed"}
            )
        text = self._decode_body(raw)
        secrets = self._get_webhook_secrets()
        if not secrets:
            _logger.warning("AP Sync webhook %s: no webhook secret configured, request refused", self.code)
        for secret in secrets:
            try:
                Webhook(secret).verify(text, headers, json_parse=False)
            except Exception:  # the library raises several kinds of errors for a bad signature
                continue
            return text
        raise IntakeError(401, {"error": "invalid_signature"})

    def _decode_body(self, raw):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A body that is not UTF-8 cannot be JSON either.
            raise IntakeError(
                400, {"error": "invalid_json", "detail": "the body is not valid UTF-8"}
            ) from exc

    # ------------------------------------------------------------------ inbound: parse
    def _load_json(self, text):
        """The one place where an inbound body becomes Python data (for every provider): the input
        guard of utils/input_guard.py (nesting limit, NUL bytes and lone surrogates refused with 400 or
        422 and the JSON pointer, contract "Input rules")."""
        return input_guard.load_json(text)

    def _parse_inbound(self, text, headers, message_id, context):
        """Turn a verified body into canonical envelopes: a list of ``(webhook_id, envelope)``, where
        ``envelope`` is ``{"type", "timestamp", "data"}`` as in contract section 1. An empty list means
        an event this module does not act on (answered 2xx, logged, nothing stored). Raises
        :class:`IntakeError` for a body that is not what the provider sends.

        The controller validates each envelope's data against data/schemas afterwards.
        """
        self.ensure_one()
        envelope = self._load_json(text)
        if not isinstance(envelope, dict):
            raise IntakeError(400, {"error": "invalid_envelope", "detail": "the body must be a JSON object"})
        errors = schema.validate("envelope", envelope)
        if errors:
            detail = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors)
            raise IntakeError(400, {"error": "invalid_envelope", "detail": detail, "errors": errors})
        return [(message_id, envelope)]

    def _validate_envelope(self, envelope):
        """Schema errors of an envelope's data (``[{"path", "message"}]``), empty when valid."""
        event_schemas = self.env["ap.sync.event"]._get_event_schemas()
        errors = schema.validate_event_data(envelope["type"], envelope.get("data"), event_schemas)
        return self._describe_schema_errors(errors, envelope) if errors else errors

    def _describe_schema_errors(self, errors, envelope):
        """Provider hook: say the schema errors in the provider's words (e.g. its field names)."""
        return errors

    def _render_inbound_answer(self, status, body, context):
        """Provider hook: the HTTP answer to a webhook request, ``(status, json body, headers)``.

        ``status``/``body`` are the module's own answer (contract section 1: 202 accepted, 200 duplicate,
        4xx refusals with an error code); a provider turns them into what its platform expects."""
        return status, body, {}

    # ------------------------------------------------------------------ pull
    def _list_documents(self, cursor=None, page_size=100):
        """One page of approved documents for the pull.

        Returns ``{"documents": [{"data": canonical invoice, "raw": bytes or None}], "next_cursor": str or
        None}``; ``next_cursor`` None means the listing is complete. Raises :class:`PlatformCallError`
        (with ``retry_after`` when the platform said when to come back).
        Generic: ``GET /invoices?status=approved`` with ``updated_since`` and an opaque cursor.
        """
        self.ensure_one()
        params = {"status": "approved", "limit": page_size}
        if self.pull_updated_since:
            params["updated_since"] = _iso(self.pull_updated_since)
        if cursor:
            params["cursor"] = cursor
        response = self._call(
            "GET", "/invoices", params=params, event_type="pull", raise_for_status=True, expect_json=True
        )
        try:
            # The input guard, not response.json(): no RecursionError on a deep page; the strings of
            # each document are checked one by one when stored (one bad document, not the page).
            page = input_guard.load_json(response.content, max_depth=PAGE_MAX_DEPTH, check_strings=False)
            invoices = page["data"]
            next_cursor = page.get("next_cursor")
            if not isinstance(invoices, list):
                raise TypeError("data is not a list")
            if next_cursor is not None and not isinstance(next_cursor, str | int):
                raise TypeError("next_cursor is not a string")
            if next_cursor is not None:
                next_cursor = str(next_cursor)
                if input_guard.BAD_CHARS.search(next_cursor) or len(next_cursor) > MAX_CURSOR_LENGTH:
                    raise ValueError("next_cursor holds characters or a length that cannot be stored")
        except IntakeError as exc:
            raise PlatformCallError(
                _("The platform answered a page that is not valid JSON: %s", exc.body.get("detail"))
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformCallError(
                _("The platform answered a page that is not {data, next_cursor}: %s", exc)
            ) from exc
        return {"documents": [{"data": item, "raw": None} for item in invoices], "next_cursor": next_cursor}

    # ------------------------------------------------------------------ approval re-verification
    def _get_fetch_document_call(self, staging):
        """The one call that fetches ``staging``'s current version, as a :meth:`_call` keyword dict, so
        that the approval checks of a group go out together (``_call_many``); or None when this provider
        fetches in its own way (several calls, throttling): :meth:`_fetch_document` is then called for
        each record. Generic: ``GET /invoices/{id}``; other providers answer None unless they override.
        """
        self.ensure_one()
        if self.provider != "generic":
            return None
        return {
            "method": "GET", "path": f"/invoices/{segment(staging.document_id)}", "event_type": "verify_approval",
            "log_values": {"staging_id": staging.id}, "raise_for_status": True, "expect_json": True,
        }  # fmt: skip

    def _read_fetched_document(self, staging, response):
        """The canonical document in the answer to :meth:`_get_fetch_document_call`:
        ``(document, None)`` or ``(None, readable problem)``. Generic: the body itself."""
        self.ensure_one()
        current = response.json()
        if not isinstance(current, dict):
            return None, _("The platform's answer is not a document.")
        return current, None

    def _fetch_document(self, staging):
        """The platform's current version of ``staging``'s document, to re-verify its approval.

        Returns ``(canonical document, None)`` or ``(None, readable problem)``. The caller checks that
        ``approval.status`` is still ``approved`` and that the content digest is unchanged.
        Generic: the call of :meth:`_get_fetch_document_call`.
        """
        self.ensure_one()
        try:
            response = self._call(**self._get_fetch_document_call(staging))
        except PlatformCallError as exc:
            return None, _("The approval could not be confirmed: %s", exc.reason)
        return self._read_fetched_document(staging, response)

    # ------------------------------------------------------------------ outbound
    def _render_outbound(self, kind, payload, target=None, message=None):
        """Render one outbound message into ``{"method", "path", "payload"}``, or None when this
        provider has no such call (the message is then not queued, and is no dead letter either).

        ``kind`` is the outbox message kind (``erp_status``, ``vendor``, ``purchase_order``,
        ``vendor_request``), ``payload`` its canonical payload, ``target`` the platform's id of what
        it is about (document id, vendor external id, PO number). ``message`` is the outbox record
        when rendering at delivery (None when enqueuing). Called again at every delivery attempt, so
        a replay re-renders and a provider change needs no data migration.
        """
        self.ensure_one()
        if not target:
            return None
        target = segment(target)
        routes = {
            "erp_status": ("POST", f"/invoices/{target}/erp-status"),
            "vendor": ("PUT", f"/vendors/{target}"),
            "vendor_request": ("PUT", f"/vendors/{target}"),
            "purchase_order": ("PUT", f"/purchase-orders/{target}"),
        }
        if kind not in routes:
            return None
        method, path = routes[kind]
        return {"method": method, "path": path, "payload": payload}
