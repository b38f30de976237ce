"""POST /ap_sync/webhook/<platform_code>: webhook intake (contract section 1 for the generic provider).

The platform's provider verifies the request, turns its payload into canonical envelopes and
renders the answer (models/ap_platform_provider.py); this controller runs the steps around them.

The request only verifies, validates, stores, answers and triggers processing: nothing else
happens inside it. Every request, refused or not, leaves one sync-log entry; the raw body of an
authenticated request that is refused (400, 422) or fails (500) is kept with it.
"""

import json
import logging
import time

from psycopg2 import errors as pg_errors

from odoo import SUPERUSER_ID, api, http
from odoo.exceptions import ValidationError
from odoo.http import request
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from ..exceptions import IntakeError
from ..models.ap_sync_event import ConcurrentIntake
from ..utils import input_guard

_logger = logging.getLogger(__name__)
RETRYABLE_ERRORS = (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, pg_errors.ReadOnlySqlTransaction)

MAX_INTAKE_ATTEMPTS = 5
BODY_CACHE_KEY = "account_ap_sync.body"
JSON_MIMETYPES = ("application/json",)


class ApSyncWebhookController(http.Controller):
    @http.route(
        "/ap_sync/webhook/<string:platform_code>",
        type="http",
        auth="none",
        methods=None,
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def ap_sync_webhook(self, platform_code, **_kwargs):
        started = time.monotonic()
        env = api.Environment(request.env.cr, SUPERUSER_ID, {"lang": "en_US"})
        httprequest = request.httprequest
        context = {"platform": env["ap.platform"], "envelope": None, "body": None, "keep_body": False,
                   "base_url": httprequest.host_url.rstrip("/")}  # fmt: skip
        try:
            status, body = self._handle(env, platform_code, httprequest, context)
        except IntakeError as error:
            status, body = error.status, error.body
        except RETRYABLE_ERRORS:
            raise  # Odoo's request loop retries the whole request in a new transaction
        except Exception as exc:  # a bug or the database: answer JSON, keep the body, roll back the rest
            _logger.exception("AP Sync webhook %s: unexpected error", platform_code)
            env.cr.rollback()
            env.transaction.reset()
            status = 500
            body = {"error": "internal_error", "detail": exc.__class__.__name__}
            context["keep_body"] = True
        body = input_guard.clean(body)  # the answer is UTF-8 JSON whatever the request held
        if context["platform"]:
            env = context["platform"].env  # in the platform's company, see _handle
        self._log_request(env, platform_code, httprequest, status, body, context, started)
        headers = {}
        if context["platform"]:
            # The provider's answer format (e.g. Rossum's {"messages": [...]}).
            status, body, headers = context["platform"]._render_inbound_answer(status, body, context)
        return request.make_json_response(body, status=status, headers=list(headers.items()) or None)

    # ------------------------------------------------------------------ steps (overridable)
    def _handle(self, env, platform_code, httprequest, context):
        if httprequest.method != "POST":
            raise IntakeError(405, {"error": "method_not_allowed", "detail": "use POST"})
        platform = self._get_platform(env, platform_code)
        # The request works in the platform's company (the default company of what it creates, such
        # as the payload's attachment and the sync-log entry); env.company then needs no read of the
        # superuser's record.
        env = env(context=dict(env.context, allowed_company_ids=platform.company_id.ids))
        platform = platform.with_env(env)
        context["platform"] = platform
        self._check_content_type(httprequest)
        raw = self._read_body(httprequest, platform.max_payload_size)
        context["body"] = raw
        headers = {name.lower(): value for name, value in httprequest.headers.items()}
        # The provider authenticates the request (Standard Webhooks for the generic provider).
        message_id, text = platform._verify_inbound(headers, raw, context)
        context["message_id"] = message_id
        context["keep_body"] = True  # authenticated from here on: keep what we refuse
        duplicate = env["ap.sync.event"]._find_duplicate(platform, message_id)
        if duplicate:
            context["event"] = duplicate
            context["keep_body"] = False
            return 200, duplicate._answer("duplicate")
        items = platform._parse_inbound(text, headers, message_id, context)
        if not items:
            context["keep_body"] = False
            return 200, {"status": "ignored", "event_id": message_id}
        status, body = 200, {}
        for webhook_id, envelope in items:
            context["envelope"] = envelope
            if envelope["type"] == "ping":
                context["keep_body"] = False
                status, body = 200, {"status": "ok", "event_id": webhook_id}
                continue
            errors = platform._validate_envelope(envelope)
            if errors:
                raise IntakeError(422, {"error": "schema_violation", "errors": errors})
            status, body, event = self._store(env, platform, webhook_id, envelope, raw, context)
            context["event"] = event
        context["keep_body"] = False
        return status, body

    def _get_platform(self, env, code):
        if code and input_guard.BAD_CHARS.search(code):
            code = None  # a NUL in the URL cannot name a platform (nor be searched for)
        Platform = env["ap.platform"]
        # Found and read in one query: the fields the request reads (not the whole record).
        platform = (
            Platform.search_fetch([("code", "=", code)], Platform._get_intake_fields(), limit=1)
            if code
            else None
        )
        if not platform:
            raise IntakeError(404, {"error": "unknown_platform"})
        if platform.mode == "pull":
            raise IntakeError(
                404, {"error": "unknown_platform", "detail": "this platform is pulled, not pushed"}
            )
        return platform

    def _check_content_type(self, httprequest):
        if (httprequest.mimetype or "").lower() not in JSON_MIMETYPES:
            raise IntakeError(
                415, {"error": "unsupported_media_type", "detail": "send Content-Type: application/json"}
            )

    def _read_body(self, httprequest, limit):
        """The raw body, never reading more than ``limit`` + 1 bytes; cached for a retried transaction."""
        cached = httprequest.environ.get(BODY_CACHE_KEY)
        if cached is not None:
            return cached
        length = httprequest.content_length
        if length is not None and length > limit:
            raise IntakeError(413, {"error": "payload_too_large", "limit": limit})
        # Odoo's HTTP server reads a body by its Content-Length (checked above); without one the body is
        # empty. So nothing larger than the limit is ever read into memory.
        raw = httprequest.get_data(cache=True) if length else b""
        if len(raw) > limit:
            raise IntakeError(413, {"error": "payload_too_large", "limit": limit})
        httprequest.environ[BODY_CACHE_KEY] = raw
        return raw

    def _store(self, env, platform, webhook_id, envelope, raw, context=None):
        """Store through the shared intake path; a concurrent winner means: new transaction, look again."""
        Event = env["ap.sync.event"]
        for attempt in range(1, MAX_INTAKE_ATTEMPTS + 1):
            try:
                # No savepoint: what a failed attempt wrote is undone by rolling the whole transaction
                # back (the request stores its delivery whole or not at all; the sync-log entry of the
                # refusal is written afterwards, in a clean transaction).
                # The first attempt runs in the transaction that found no duplicate of this message.
                checked = attempt == 1 and webhook_id == (context or {}).get("message_id")
                status, body, event = Event._store(platform, webhook_id, envelope, raw, checked=checked)
                # Written now, inside this try: a value the database refuses is answered here (500 JSON,
                # body kept), not when the request's transaction commits.
                env.flush_all()
                break
            except ValidationError as exc:
                # A value the models' input rules refuse (the guard and the schema let it through): the
                # sender is told what, as for a schema violation; nothing of it is stored.
                env.cr.rollback()
                env.transaction.reset()
                raise IntakeError(
                    422,
                    {"error": "schema_violation", "errors": [{"path": "/data", "message": str(exc)[:500]}]},
                ) from exc
            except ConcurrentIntake:
                if attempt == MAX_INTAKE_ATTEMPTS:
                    raise
                env.cr.rollback()
                env.transaction.reset()
        if status == 202 and event.staging_id:
            # One statement (models/ir_cron.py), woken after commit over a kept connection, not a new
            # one per request (utils/cron_wakeup). The id from the process's xml-id cache: no query to
            # check that the cron still exists (``env.ref``); a deleted cron inserts no trigger.
            cron_id = env["ir.model.data"]._xmlid_to_res_id("account_ap_sync.ir_cron_ap_sync_process")
            env["ir.cron"].browse(cron_id)._ap_sync_trigger_now()
        return status, body, event

    def _log_request(self, env, platform_code, httprequest, status, body, context, started):
        platform = context["platform"]
        envelope = context.get("envelope") or {}
        event = context.get("event")
        outcome = {200: "duplicate" if body.get("status") == "duplicate" else "success", 202: "success"}.get(
            status, "error" if status >= 500 else "rejected"
        )
        error = None
        if status >= 400:
            error = json.dumps(body, ensure_ascii=False)[:2000]
        try:
            env["ap.sync.log"]._log_call(
                platform=platform or None,
                direction="inbound",
                method=httprequest.method,
                endpoint=f"/ap_sync/webhook/{platform_code}"[:255],
                event_type=(envelope.get("type") if isinstance(envelope, dict) else None) or None,
                event_id=(context.get("message_id") or httprequest.headers.get("webhook-id") or "")[:255]
                or None,
                http_status=status,
                duration_ms=int((time.monotonic() - started) * 1000),
                outcome=outcome,
                error=error,
                reference=body.get("reference"),
                staging_id=event.staging_id.id if event and event.staging_id else None,
                inbound_event_id=event.id if event else None,
                request_body=context["body"]
                if context.get("keep_body") and context.get("body") is not None
                else None,
            )
        except Exception:
            _logger.exception("AP Sync webhook %s: could not write the sync log", platform_code)
