"""The BILL (bill.com v3 API) provider of ``ap.platform``.

Session authentication (``POST /v3/login`` -> ``sessionId``, headers ``devKey`` + ``sessionId``, one new
login on ``BDC_1109``), signed notifications (``x-bill-sha-signature``), the polling backstop
(``GET /v3/bills`` by ``updatedTime``), approval re-reading and the calls of the payment controls.
See docs/providers/bill.md for the BILL side and the exact calls.
"""

import base64
import hashlib
import hmac
import logging
import threading
import time
from decimal import Decimal

import requests

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import IntakeError, PlatformCallError
from ..utils import bill_mapping, crypto, input_guard
from ..utils.redact import scrub_text
from ..utils.retry import parse_retry_after
from ..utils.url import segment
from . import (  # noqa: F401  (extended here; api_login/api_password come with the Rossum provider)
    ap_platform_ops,
    ap_platform_provider,
    ap_platform_pull,
    ap_platform_rossum,
    ap_platform_secret,
)
from .ap_platform import CONNECT_TIMEOUT, READ_TIMEOUT, _http_session, _session_store

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-bill-sha-signature"
SESSION_EXPIRED = "BDC_1109"  # "Session is invalid. Please log in." (Common API error codes)
BUSY_CODES = {"BDC_1322", "BDC_1144"}  # concurrent / hourly limits (API rate limits)
BILL_CONCURRENCY = 3  # calls at once per organization (API rate limits)
PAGE_SIZE = 100  # the largest `max` of a v3 list
BILL_EVENTS = frozenset(bill_mapping.EVENT_OBJECTS)
# erp-status values that mean "Odoo paid (part of) the bill": BILL learns them as payments made outside BILL.
PAYMENT_STATUSES = frozenset({"in_payment", "partially_paid", "paid"})
# In-process cache of sessions and limits: a rolled back transaction never costs a new login.
_sessions = {}
_semaphores = {}
_lock = threading.Lock()


class ApPlatform(models.Model):
    _inherit = "ap.platform"

    provider = fields.Selection(selection_add=[("bill", "BILL (bill.com)")], ondelete={"bill": "set default"})
    bill_organization_id = fields.Char(
        string="BILL Organization ID",
        tracking=True,
        help="The BILL organization id (begins with 008), sent with the login.",
    )
    bill_payment_journal_id = fields.Many2one(
        "account.journal",
        string="BILL Payments Journal",
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
        tracking=True,
        help="Journal of the payments BILL makes (payment.updated, paid): they are registered on the Odoo bill "
        "in this journal. Empty: payments made through BILL wait for a person.",
    )
    bill_accept_unassigned = fields.Boolean(
        string="Bills Without Approval Policy Count as Approved",
        tracking=True,
        help="On: a BILL bill that matched no approval policy (approvalStatus UNASSIGNED) goes through. "
        "Off: only APPROVED bills become Odoo bills; the others wait.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("provider") == "bill":
                # BILL sends no event when a bill is approved: the pull is its approval backstop.
                vals.setdefault("mode", "both")
                if "max_concurrent_calls" in self._fields:  # issue 11's per-platform limit: BILL allows 3
                    vals.setdefault("max_concurrent_calls", BILL_CONCURRENCY)
                if not vals.get("bill_payment_journal_id"):
                    company_id = vals.get("company_id") or self.env.company.id
                    journal = self.env["account.journal"].search(
                        [("type", "=", "bank"), ("company_id", "=", company_id)], limit=1
                    )
                    vals["bill_payment_journal_id"] = journal.id or False
        return super().create(vals_list)

    def write(self, vals):
        result = super().write(vals)
        if {"api_login", "api_password", "api_key", "bill_organization_id", "base_url"} & set(vals):
            for platform in self.filtered(lambda p: p.provider == "bill"):
                platform._bill_forget_stored_session()
        return result

    def _bill_forget_stored_session(self):
        """New credentials: the session of the old ones is not used again."""
        _sessions.pop(self._bill_session_key(), None)
        self.env["ap.platform.secret"]._set(self, "bill_session", None)

    @api.model
    def _cron_pull(self, page_size=PAGE_SIZE):
        """A BILL platform set to webhooks only is still polled (one page a run): it is the approval backstop."""
        now = fields.Datetime.now()
        backstop = self.search([
            ("provider", "=", "bill"), ("mode", "=", "webhook"), ("base_url", "!=", False),
            "|", ("pull_next_at", "=", False), ("pull_next_at", "<=", now),
        ])  # fmt: skip
        for platform in backstop:
            platform._pull_page(page_size)
        return super()._cron_pull(page_size)

    # ------------------------------------------------------------------ session
    def _bill_session_key(self):
        return (self.env.cr.dbname, self.id, crypto.keys_fingerprint())

    def _bill_semaphore(self):
        """At most ``max_concurrent_calls`` (BILL: 3) calls at once to this organization from this process."""
        limit = BILL_CONCURRENCY
        if "max_concurrent_calls" in self._fields and self.max_concurrent_calls:
            limit = min(limit, self.max_concurrent_calls)
        with _lock:
            key = (self.env.cr.dbname, self.id, limit)
            if key not in _semaphores:
                _semaphores[key] = threading.BoundedSemaphore(limit)
            return _semaphores[key]

    def _bill_get_session(self):
        """The session in use: this process's copy, else the one stored encrypted, else a new login."""
        self.ensure_one()
        key = self._bill_session_key()
        session = _sessions.get(key)
        if not session:
            session = self.env["ap.platform.secret"]._get(self, "bill_session")
            if session:
                _sessions[key] = session
        return session or self._bill_login()

    def _bill_forget_session(self, session_id):
        key = self._bill_session_key()
        if _sessions.get(key) == session_id:
            _sessions.pop(key, None)

    def _bill_login(self):
        """``POST /v3/login``; the session is kept encrypted and reused (login: 200 per hour)."""
        self.ensure_one()
        password = self.env["ap.platform.secret"]._get(self, "api_password")
        dev_key = self._get_api_key()
        if not (self.api_login and password and dev_key and self.bill_organization_id):
            raise PlatformCallError(
                _(
                    "BILL platform %s needs a login, a password, a developer key and an organization id.",
                    self.code,
                )
            )
        body = {
            "username": self.api_login,
            "password": password,
            "organizationId": self.bill_organization_id,
            "devKey": dev_key,
        }
        response = self._bill_http("POST", "/v3/login", payload=body, event_type="bill.login", log_body=False)
        if not response.ok:
            raise PlatformCallError.from_response(
                _(
                    "BILL refused the login (HTTP %(status)s): %(detail)s",
                    status=response.status_code,
                    detail=self._bill_error_text(response),
                ),  # fmt: skip
                response,
            )
        try:
            session = response.json()["sessionId"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformCallError(_("BILL answered the login without a sessionId.")) from exc
        _sessions[self._bill_session_key()] = session
        self.env["ap.platform.secret"]._set(self, "bill_session", session)
        _logger.info("AP Sync %s: logged in to BILL (new session)", self.code)
        return session

    def _bill_error_text(self, response):
        try:
            body = bill_mapping.loads(response.content)
        except ValueError:
            body = response.text[:300]
        return scrub_text(bill_mapping.error_text(body), self._secret_values())

    # ------------------------------------------------------------------ calls
    def _bill_http(self, method, path, params=None, payload=None, headers=None, event_type=None,
                   log_values=None, log_body=True, idempotency_key=None):  # fmt: skip
        """One HTTP call to BILL (no session logic) and one sync-log entry. Bodies are written with exact
        numbers; the password, the developer key and the session are never logged."""
        self.ensure_one()
        # The environment guard and shadow mode hold for BILL's own calls too (login included).
        self._check_outbound_allowed(event_type)
        if not self.base_url:
            raise PlatformCallError(_("Platform %s has no base URL.", self.display_name))
        url = self.base_url.rstrip("/") + path
        send_headers = {"Accept": "application/json", "User-Agent": "odoo-account_ap_sync/1.0"}
        send_headers.update(headers or {})
        data = None
        if payload is not None:
            data = bill_mapping.dumps(payload).encode()
            send_headers["Content-Type"] = "application/json"
        if idempotency_key:
            send_headers["X-Idempotent-Key"] = idempotency_key
        _session_store.timeouts = (self.timeout_connect or CONNECT_TIMEOUT, self.timeout_read or READ_TIMEOUT)
        started = time.monotonic()
        response = error = None
        try:
            with self._bill_semaphore():
                # No redirect is followed: requests would carry the devKey and sessionId headers to
                # another host (it drops only Authorization). A 3xx is then an answer like any other.
                response = _http_session().request(
                    method, url, params=params, data=data, headers=send_headers, allow_redirects=False
                )
        except requests.Timeout as exc:
            error = PlatformCallError(
                _("Timeout calling BILL %(method)s %(path)s", method=method, path=path), transient=True
            )
            error.__cause__ = exc
        except requests.RequestException as exc:
            error = PlatformCallError(
                _(
                    "Connection error calling BILL %(method)s %(path)s: %(error)s",
                    method=method,
                    path=path,
                    error=exc.__class__.__name__,
                ),
                transient=True,
            )
            error.__cause__ = exc
        duration = int((time.monotonic() - started) * 1000)
        status = response.status_code if response is not None else None
        _logger.info(
            "AP Sync %s %s %s -> %s in %d ms", self.code, method, path, status or "no answer", duration
        )
        failed = error is not None or not response.ok
        self.env["ap.sync.log"]._log_call(
            platform=self,
            direction="outbound",
            method=method,
            endpoint=path[:255],
            event_type=event_type,
            event_id=idempotency_key,
            http_status=status,
            duration_ms=duration,
            outcome=self.env["ap.sync.log"]._outcome_for_status(status),
            error=(str(error.args[0]) if error else self._bill_error_text(response)) if failed else None,
            request_body=payload if failed and log_body else None,
            response_body=response.text if failed and response is not None else None,
            **(log_values or {}),
        )
        if error:
            raise error
        return response

    def _bill_request(self, method, path, params=None, payload=None, event_type=None, log_values=None,
                      idempotency_key=None):  # fmt: skip
        """A BILL API call with the session headers; on ``BDC_1109`` (session expired) it logs in once more
        and makes the call again, once. Returns the ``requests.Response``."""
        self.ensure_one()
        dev_key = self._get_api_key()
        for attempt in (1, 2):
            session = self._bill_get_session()
            response = self._bill_http(
                method, path, params=params, payload=payload, headers={"devKey": dev_key, "sessionId": session},
                event_type=event_type, log_values=log_values, idempotency_key=idempotency_key,
            )  # fmt: skip
            if attempt == 1 and self._bill_session_expired(response):
                self._bill_forget_session(session)
                self._bill_login()
                continue
            return response
        return response

    @api.model
    def _bill_session_expired(self, response):
        """An answer that means "log in again": BDC_1109 (whatever its 4xx status), or a 401 without any BILL
        error code. A 401 naming another code (e.g. BDC_1102, developer key invalid) is not cured by a new
        login."""
        if response.status_code not in (400, 401, 403):
            return False
        codes = self._bill_codes(response)
        return SESSION_EXPIRED in codes or (response.status_code == 401 and not codes)

    @api.model
    def _bill_codes(self, response):
        try:
            return bill_mapping.error_codes(bill_mapping.loads(response.content))
        except ValueError:
            return set()

    def _bill_json(self, response):
        """The answer as JSON with exact numbers (never through float)."""
        return bill_mapping.loads(response.content)

    def _bill_get(self, path, event_type, log_values=None, params=None):
        """GET and parse; a busy answer (429) waits the Retry-After (at most 5 s) and tries once more."""
        response = self._bill_request(
            "GET", path, params=params, event_type=event_type, log_values=log_values
        )
        if response.status_code == 429:
            time.sleep(min(5, parse_retry_after(response.headers.get("Retry-After")) or 1))
            response = self._bill_request(
                "GET", path, params=params, event_type=event_type, log_values=log_values
            )
        if not response.ok:
            raise PlatformCallError.from_response(
                _(
                    "BILL answered HTTP %(status)s to GET %(path)s: %(detail)s",
                    status=response.status_code,
                    path=path,
                    detail=self._bill_error_text(response),
                ),  # fmt: skip
                response,
            )
        return self._bill_json(response)

    def _bill_get_vendor(self, vendor_id, log_values=None):
        cache = self.env.cr.cache.setdefault("account_ap_sync.bill_vendors", {})
        key = (self.id, vendor_id)
        if key not in cache:
            cache[key] = self._bill_get(f"/v3/vendors/{segment(vendor_id)}", "bill.vendor", log_values)
        return cache[key]

    def _bill_invoice(self, bill, vendor=None):
        return bill_mapping.bill_to_invoice(
            bill, vendor=vendor, accept_unassigned=self.bill_accept_unassigned
        )

    # ------------------------------------------------------------------ inbound (webhooks)
    @api.model
    def _get_intake_fields(self):
        # What a BILL notification reads when it becomes a canonical invoice.
        return [*super()._get_intake_fields(), "bill_organization_id", "bill_accept_unassigned"]

    def _bill_verify_signature(self, headers, raw):
        """``x-bill-sha-signature`` = base64 HMAC-SHA256(securityKey, raw body), over the bytes received."""
        self.ensure_one()
        received = (headers.get(SIGNATURE_HEADER) or "").strip()
        if not received:
            raise IntakeError(
                401, {"error": "invalid_signature", "detail": f"{SIGNATURE_HEADER} header missing"}
            )
        secrets = self._get_webhook_secrets()
        for secret in secrets:
            expected = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
            if hmac.compare_digest(expected.encode(), received.encode()):
                return True
        if not secrets:
            _logger.warning("AP Sync webhook %s: no securityKey configured, request refused", self.code)
        raise IntakeError(401, {"error": "invalid_signature"})

    def _verify_inbound(self, headers, raw, context):
        """BILL: ``x-bill-sha-signature`` over the raw body, then ``metadata.eventId`` is the message id."""
        if self.provider != "bill":
            return super()._verify_inbound(headers, raw, context)
        self.ensure_one()
        self._bill_verify_signature(headers, raw)
        context["keep_body"] = True  # authenticated: what is refused from here on is kept
        event_id, event_type, obj, _body = self._bill_parse_notification(raw)
        context["bill_notification"] = (event_type, obj)
        return event_id, raw.decode("utf-8", "replace")

    def _load_json(self, text):
        if self.provider != "bill":
            return super()._load_json(text)
        return self._bill_load(text)

    def _bill_load(self, raw):
        """An inbound BILL body under the input rules of every door (utils/input_guard.py: nesting
        limit, NUL and lone surrogates refused), its amounts read as Decimal. BILL may send its payload
        JSON-escaped as a string (Webhook API notification rules): such a string is parsed once more."""
        value = input_guard.load_json(raw, parse_float=Decimal)
        if isinstance(value, str):
            value = input_guard.load_json(value, parse_float=Decimal)
        return value

    def _parse_inbound(self, text, headers, message_id, context):
        if self.provider != "bill":
            return super()._parse_inbound(text, headers, message_id, context)
        event_type, obj = (
            context.get("bill_notification") or self._bill_parse_notification(text.encode())[1:3]
        )
        if event_type not in BILL_EVENTS:
            _logger.info("AP Sync webhook %s: BILL event %s ignored (not acted on)", self.code, event_type)
            return []  # answered 2xx: BILL would otherwise retry it 5 times into its dead-letter queue
        return [(message_id, self._bill_envelope(event_type, obj))]

    def _render_inbound_answer(self, status, body, context):
        """BILL wants a 2xx within its 10 s: 200 for accepted and duplicate alike."""
        status, body, headers = super()._render_inbound_answer(status, body, context)
        if self.provider == "bill" and status == 202:
            status = 200
        return status, body, headers

    def _bill_parse_notification(self, raw):
        """(event id, event type, object) of a verified notification; 400 when it is not one."""
        body = self._bill_load(raw)
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise IntakeError(
                400, {"error": "invalid_envelope", "detail": "a BILL notification has metadata"}
            )
        metadata = body["metadata"]
        event_id, event_type = metadata.get("eventId"), metadata.get("eventType")
        if not event_id or not isinstance(event_id, str) or len(event_id) > 200:
            raise IntakeError(400, {"error": "invalid_envelope", "detail": "metadata.eventId missing"})
        if not isinstance(event_type, str) or not event_type:
            raise IntakeError(400, {"error": "invalid_envelope", "detail": "metadata.eventType missing"})
        if event_type not in BILL_EVENTS:
            return event_id, event_type, None, body  # an event this module does not act on
        org = metadata.get("organizationId")
        if org and self.bill_organization_id and org != self.bill_organization_id:
            raise IntakeError(
                422, {"error": "schema_violation", "errors": [
                    {"path": "/metadata/organizationId", "message": "the notification is for another organization"}]},
            )  # fmt: skip
        obj = body.get(bill_mapping.EVENT_OBJECTS[event_type])
        if not isinstance(obj, dict) or not (obj.get("id") or event_type == "payment.failed"):
            path = "/" + bill_mapping.EVENT_OBJECTS[event_type]
            raise IntakeError(
                422,
                {
                    "error": "schema_violation",
                    "errors": [{"path": path, "message": "the object or its id is missing"}],
                },
            )
        return event_id, event_type, obj, body

    def _bill_envelope(self, event_type, obj):
        """The canonical envelope of one BILL notification (validated against data/schemas by the caller)."""
        if event_type in ("bill.created", "bill.updated", "bill.restored"):
            try:
                invoice = self._bill_invoice(obj)
            except bill_mapping.BillMappingError as exc:
                raise IntakeError(
                    422,
                    {
                        "error": "schema_violation",
                        "errors": [{"path": f"/bill{exc.path}", "message": str(exc)}],
                    },
                ) from exc
            return {"type": "invoice.approved", "timestamp": obj.get("updatedTime"), "data": invoice}
        if event_type == "bill.archived":
            return {
                "type": "invoice.voided",
                "timestamp": obj.get("updatedTime"),
                "data": {"id": obj["id"], "reason": _("archived in BILL")},
            }
        if event_type in ("vendor.created", "vendor.updated"):
            return {"type": "vendor.updated", "timestamp": obj.get("updatedTime"),
                    "data": bill_mapping.vendor_to_canonical(obj)}  # fmt: skip
        return {"type": f"bill.{event_type}", "timestamp": obj.get("updatedTime"), "data": obj}

    # ------------------------------------------------------------------ pull (the approval backstop)
    def _list_documents(self, cursor=None, page_size=PAGE_SIZE):
        """BILL: ``GET /v3/bills?filters=updatedTime:gte:"…"&sort=updatedTime:asc``, page by page. Every bill
        that changed is listed, approved or not: approvals, which BILL never notifies, are found here."""
        if self.provider != "bill":
            return super()._list_documents(cursor, page_size)
        self.ensure_one()
        params = {"max": min(page_size or PAGE_SIZE, PAGE_SIZE), "sort": "updatedTime:asc"}
        filters = ["archived:eq:false"]
        if self.pull_updated_since:
            filters.insert(
                0, f'updatedTime:gte:"{self.pull_updated_since.strftime("%Y-%m-%dT%H:%M:%S.000Z")}"'
            )
        params["filters"] = ",".join(filters)
        if cursor:
            params["page"] = cursor
        response = self._bill_request("GET", "/v3/bills", params=params, event_type="pull")
        if not response.ok:
            raise PlatformCallError.from_response(
                _(
                    "BILL answered HTTP %(status)s: %(detail)s",
                    status=response.status_code,
                    detail=self._bill_error_text(response),
                ),  # fmt: skip
                response,
                retry_after=60 if response.status_code == 429 else None,  # BILL's rate window is a minute
            )
        try:
            page = self._bill_json(response)
            bills = page["results"]
            if not isinstance(bills, list):
                raise TypeError("results is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformCallError(
                _("BILL answered a page that is not {results, nextPage}: %s", exc)
            ) from exc
        documents = []
        for bill in bills:
            try:
                data = self._bill_invoice(bill)
            except bill_mapping.BillMappingError as exc:
                data = {"id": bill.get("id") if isinstance(bill, dict) else None, "invalid": str(exc)}
            documents.append({"data": data, "raw": bill_mapping.dumps(bill).encode()})
        return {"documents": documents, "next_cursor": (page.get("nextPage") or None) if bills else None}

    # ------------------------------------------------------------------ approval re-verification
    def _fetch_document(self, staging):
        """BILL: ``GET /v3/bills/{billId}`` as a canonical invoice (its approvers included)."""
        if self.provider != "bill":
            return super()._fetch_document(staging)
        try:
            bill = self._bill_get(
                f"/v3/bills/{segment(staging.document_id)}", "verify_approval", {"staging_id": staging.id}
            )
        except PlatformCallError as exc:
            return None, _("The approval could not be confirmed in BILL: %s", exc.args[0])
        return self._bill_invoice(bill), None

    # ------------------------------------------------------------------ outbound calls made by _call
    def _get_request_headers(self, idempotency_key=None):
        if self.provider != "bill":
            return super()._get_request_headers(idempotency_key)
        self.ensure_one()
        headers = {"Accept": "application/json", "User-Agent": "odoo-account_ap_sync/1.0",
                   "devKey": self._get_api_key() or "", "sessionId": self._bill_get_session()}  # fmt: skip
        if idempotency_key:
            headers["X-Idempotent-Key"] = idempotency_key
        return headers

    def _handle_unauthorized(self, response):
        """BILL: ``BDC_1109`` (session expired) -> log in again, once."""
        if self.provider != "bill":
            return super()._handle_unauthorized(response)
        if not self._bill_session_expired(response):
            return False
        self._bill_forget_session(response.request.headers.get("sessionId"))
        self._bill_login()
        return True

    def _render_outbound(self, kind, payload, target=None, message=None):
        """BILL: payments Odoo made are recorded (record-payment, see ap_sync_outbox_bill), vendors are
        patched; BILL has no call for the other erp-status values, purchase orders or vendor requests."""
        if self.provider != "bill":
            return super()._render_outbound(kind, payload, target=target, message=message)
        if not target:
            return None
        if kind == "erp_status" and (payload or {}).get("status") in PAYMENT_STATUSES:
            return {"method": "POST", "path": "/v3/bills/record-payment", "payload": payload}
        if kind == "vendor":
            return {
                "method": "PATCH",
                "path": f"/v3/vendors/{segment(target)}",
                "payload": bill_mapping.vendor_patch(payload),
            }
        return None

    def _reconcile_fetch_page(self, updated_since=None, cursor=None, limit=100):
        if self.provider != "bill":
            return super()._reconcile_fetch_page(updated_since=updated_since, cursor=cursor, limit=limit)
        raise UserError(
            _("Reconciliation with BILL is not available yet: BILL lists bills and their payment status, not the "
              "erp statuses this reconciliation compares. The BILL Payments of each staged invoice show what was "
              "paid on either side.")
        )  # fmt: skip

    # ------------------------------------------------------------------ test connection
    def _test_connection(self):
        if self.provider != "bill":
            return super()._test_connection()
        self.ensure_one()
        try:
            response = self._bill_request("GET", "/v3/bills", params={"max": 1}, event_type="test_connection")
        except (PlatformCallError, UserError) as exc:
            return False, exc.args[0]
        if response.ok:
            return True, _(
                "Connected to BILL organization %s: signed in and listed the bills.",
                self.bill_organization_id,
            )
        return False, _("BILL answered HTTP %(status)s: %(detail)s", status=response.status_code,
                        detail=self._bill_error_text(response))  # fmt: skip


class ApPlatformSecret(models.Model):
    _inherit = "ap.platform.secret"

    kind = fields.Selection(
        selection_add=[("bill_session", "BILL session")], ondelete={"bill_session": "cascade"}
    )
