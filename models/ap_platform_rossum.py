"""Rossum (rossum.app) as an ``ap.platform`` provider.

Calls chosen (Rossum API reference, https://rossum.app/api/docs/ ; see docs/providers/rossum.md):

* ``POST {base}/v1/auth/login`` ``{"username", "password"}`` -> ``{"key"}``, sent as ``Authorization: Bearer``;
* ``GET {base}/v1/queues`` (Test Connection);
* ``GET {base}/v1/queues/{id}/export?format=json&status=confirmed`` with ``page``/``page_size`` and the
  ``pagination.next`` link (the pull);
* ``GET {base}/v1/annotations/{id}`` and ``GET {base}/v1/annotations/{id}/content`` (approval re-check);
* ``PATCH {base}/v1/annotations/{id}`` ``{"status": "exported", "metadata": {...}}`` once the bill
  exists, ``{"metadata": {...}}`` for the payment states (annotation metadata is "client data");
* ``POST {base}/v1/annotations/{id}/reject`` ``{"note_content": reason}`` (Reject to platform).

Inbound: the hook's ``X-Rossum-Signature-SHA256: sha256=<hex>`` (HMAC-SHA256 of the raw body keyed
with the hook's ``config.secret``); events ``annotation_content``/``export`` (answered through the
asynchronous hook framework: 202 + Location, polled until the bill exists or the document stopped)
and ``annotation_status``/``changed`` to ``confirmed`` or ``exported``.
"""

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import urlsplit

import requests

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..exceptions import IntakeError, PlatformCallError
from ..utils.access import MANAGER_GROUP
from ..utils.retry import parse_retry_after
from ..utils.url import segment
from .ap_platform import _http_session, _session_store

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-rossum-signature-sha256"
SHA1_HEADER = "x-elis-signature"
SIGNATURE_PATTERN = re.compile(r"^(?:sha256=)?([0-9a-fA-F]{64})$")
APPROVED_STATUSES = ("confirmed", "exporting", "exported")
ACCEPTED_STATUS_CHANGES = ("confirmed", "exported")
TOKEN_LIFETIME = 24 * 3600  # seconds; Rossum tokens live longer, a 401 logs in again anyway
MAX_REQUESTS_PER_SECOND = 10  # Rossum's throttling (API reference, "Rate limiting")
POLL_RETRY_AFTER = 5  # seconds: how soon Rossum should poll an export result again
MESSAGE_LIMIT = 1000

# Canonical field -> (default schema id of Rossum's standard invoice schema, label)
DATAPOINTS = {
    "number": ("document_id", "Invoice number"),
    "issue_date": ("date_issue", "Issue date"),
    "due_date": ("date_due", "Due date"),
    "purchase_order_ref": ("order_id", "Purchase order"),
    "supplier_name": ("sender_name", "Vendor name"),
    "supplier_vat": ("sender_vat_id", "Vendor VAT number"),
    "supplier_iban": ("iban", "Vendor IBAN"),
    "currency": ("currency", "Currency"),
    "document_type": ("document_type", "Document type"),
    "total_net": ("amount_total_base", "Total without tax"),
    "total_tax": ("amount_total_tax", "Total tax"),
    "total_gross": ("amount_total", "Total"),
    "lines": ("line_items", "Line items (multivalue)"),
    "line_description": ("item_description", "Line: description"),
    "line_quantity": ("item_quantity", "Line: quantity"),
    "line_unit_price": ("item_amount_base", "Line: unit price"),
    "line_tax_rate": ("item_rate", "Line: tax rate"),
    "line_net": ("item_total_base", "Line: total without tax"),
    "line_gross": ("item_amount_total", "Line: total"),
}
# Canonical schema path -> canonical field, to name the datapoint in an error
PATH_FIELDS = {
    "/number": "number",
    "/issue_date": "issue_date",
    "/due_date": "due_date",
    "/currency": "currency",
    "/supplier": ("supplier_name", "supplier_vat"),
    "/totals/net": "total_net",
    "/totals/tax": "total_tax",
    "/totals/gross": "total_gross",
    "/lines": "lines",
}
LINE_PATH_FIELDS = {
    "quantity": "line_quantity",
    "unit_price": "line_unit_price",
    "net_amount": "line_net",
    "description": "line_description",
    "tax": "line_tax_rate",
}

_throttle_lock = threading.Lock()
_last_request_at = {}


def parse_amount(text):
    """A decimal string from a Rossum value: normalized ("1210.00") or locale-formatted ("1 210,00",
    "1.210,00", "1,210.00", "(12,50)", "12,50-"). Returns None for an empty value and the text itself
    when it is not a number (the schema then names the datapoint)."""
    if text is None:
        return None
    original = str(text).strip()
    if not original:
        return None
    value = original
    negative = value.startswith("(") and value.endswith(")")
    value = re.sub(r"[\s\u00a0\u202f'()]", "", value)
    value = re.sub(r"[^\d,.\-+]", "", value)  # currency signs, "%"
    if value.endswith("-") or value.startswith("-"):
        negative = True
    value = value.strip("+-")
    if "," in value and "." in value:
        decimal_sep = "," if value.rfind(",") > value.rfind(".") else "."
        thousands_sep = "." if decimal_sep == "," else ","
        value = value.replace(thousands_sep, "").replace(decimal_sep, ".")
    elif "," in value:
        # "1210,50" and "0,5": a decimal comma; "1,210" and "1,210,000": thousands.
        head, _sep, tail = value.rpartition(",")
        value = value.replace(",", "") if value.count(",") > 1 or len(tail) == 3 else f"{head}.{tail}"
    elif value.count(".") > 1:
        value = value.replace(".", "")  # "1.210.000"
    try:
        number = Decimal(value)
    except InvalidOperation:
        return original
    return format(-number if negative else number, "f")


def parse_date(text):
    """ISO date of a Rossum date value (normalized ISO, or a common written form), else the text."""
    value = (text or "").strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d. %m. %Y"):
        try:
            return datetime.strptime(value[:10] if fmt == "%Y-%m-%d" else value, fmt).date().isoformat()
        except ValueError:
            continue
    return value


def _money(value):
    return format(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def _annotation_id(annotation):
    if isinstance(annotation, dict):
        if annotation.get("id") is not None:
            return str(annotation["id"])
        url = annotation.get("url") or ""
        return url.rstrip("/").rsplit("/", 1)[-1] or None
    return None


def _queue_id(annotation):
    queue = (annotation or {}).get("queue")
    if isinstance(queue, dict):
        return str(queue.get("id") or "")
    return str(queue or "").rstrip("/").rsplit("/", 1)[-1]


class ApPlatformRossum(models.Model):
    _inherit = "ap.platform"

    provider = fields.Selection(selection_add=[("rossum", "Rossum")], ondelete={"rossum": "set default"})
    api_login = fields.Char(
        string="API Login",
        tracking=True,
        copy=False,
        help="Rossum: the user name Odoo logs in with (a service account of the organization).",
    )
    api_password = fields.Char(
        string="API Password",
        compute="_compute_secret_inputs",
        inverse="_inverse_api_password",
        groups=MANAGER_GROUP,
        copy=False,
        help="Rossum: the password of the API login. Write-only: stored encrypted, sent only to "
        "POST /v1/auth/login, never shown or logged.",
    )
    api_password_set = fields.Boolean(compute="_compute_secret_flags", string="API Password Stored")
    rossum_queue_ids = fields.Char(
        string="Rossum Queue IDs",
        tracking=True,
        help="Comma-separated ids of the Rossum queues this platform reads (the number in the queue's URL, "
        "e.g. 8236 in https://acme.rossum.app/api/v1/queues/8236). Webhooks from other queues are ignored.",
    )
    rossum_datapoint_ids = fields.One2many(
        "ap.rossum.datapoint",
        "platform_id",
        string="Datapoint Mapping",
        help="Schema ids of this customer's Rossum schema, where they differ from the standard invoice schema.",
    )

    # ------------------------------------------------------------------ configuration
    @api.constrains("provider", "rossum_queue_ids")
    def _check_rossum_queue_ids(self):
        for platform in self.filtered(lambda p: p.provider == "rossum" and p.rossum_queue_ids):
            if not all(
                part.strip().isdigit() for part in platform.rossum_queue_ids.split(",") if part.strip()
            ):
                raise UserError(_("Rossum queue ids are numbers separated by commas, e.g. 8236, 8237."))

    def _rossum_queue_list(self):
        self.ensure_one()
        return [part.strip() for part in (self.rossum_queue_ids or "").split(",") if part.strip()]

    def _compute_secret_inputs(self):
        res = super()._compute_secret_inputs()
        for platform in self:
            platform.api_password = False
        return res

    def _compute_secret_flags(self):
        res = super()._compute_secret_flags()
        stored = {
            row.platform_id.id
            for row in self.env["ap.platform.secret"]
            .sudo()
            .search([("platform_id", "in", self.ids), ("kind", "=", "api_password")])
        }
        for platform in self:
            platform.api_password_set = platform.id in stored
        return res

    def _inverse_api_password(self):
        self._store_secret_input("api_password", _("API password changed."))
        for platform in self.filtered("api_password"):
            platform._rossum_forget_token()

    def write(self, vals):
        result = super().write(vals)
        if {"api_login", "base_url"} & set(vals):
            for platform in self.filtered(lambda p: p.provider == "rossum"):
                platform._rossum_forget_token()
        return result

    def _get_rossum_schema_ids(self):
        """Canonical field -> schema id: Rossum's standard invoice schema, overridden by the mapping table."""
        self.ensure_one()
        ids = {field: default for field, (default, _label) in DATAPOINTS.items()}
        for row in self.rossum_datapoint_ids:
            ids[row.field] = row.schema_id.strip()
        return ids

    # ------------------------------------------------------------------ authentication
    def _rossum_forget_token(self):
        self.ensure_one()
        self.env["ap.platform.secret"]._set(self, "session_token", None)
        self.env.cr.cache.pop("account_ap_sync.rossum_tokens", None)

    def _rossum_token(self, force_login=False):
        """A valid session token: the stored one (decrypted once per transaction) or a new login."""
        self.ensure_one()
        cache = self.env.cr.cache.setdefault("account_ap_sync.rossum_tokens", {})
        if not force_login:
            session = cache.get(self.id)
            if session is None:
                stored = self.env["ap.platform.secret"]._get(self, "session_token")
                try:
                    session = json.loads(stored) if stored else {}
                except ValueError:
                    session = {}
                cache[self.id] = session
            if session.get("token") and session.get("expires_at", 0) > time.time() + 60:
                return session["token"]
        token = self._rossum_login()
        session = {"token": token, "expires_at": int(time.time()) + TOKEN_LIFETIME}
        self.env["ap.platform.secret"]._set(self, "session_token", json.dumps(session))
        self.env.cr.cache.setdefault("account_ap_sync.rossum_tokens", {})[self.id] = session
        return token

    def _rossum_login(self):
        """POST /v1/auth/login with the login and password; the password goes nowhere else and is
        never logged (the sync log keeps neither the request nor the answer of this call)."""
        self.ensure_one()
        password = self.env["ap.platform.secret"]._get(self, "api_password")
        if not (self.api_login and password):
            raise PlatformCallError(
                _("Set the Rossum API login and password of %s first.", self.display_name)
            )
        if not self.base_url:
            raise PlatformCallError(_("Platform %s has no base URL.", self.display_name))
        self._rossum_throttle()
        started = time.monotonic()
        status = None
        _session_store.timeouts = (self.timeout_connect or 5, self.timeout_read or 30)
        try:
            response = _http_session().post(
                self._get_url("/v1/auth/login"),
                json={"username": self.api_login, "password": password},
                headers={"Accept": "application/json", "User-Agent": "odoo-account_ap_sync/1.0"},
                allow_redirects=False,
            )
            status = response.status_code
        except requests.RequestException as exc:
            self._rossum_log_login(None, started, exc.__class__.__name__)
            raise PlatformCallError(
                _("Connection error logging in to Rossum: %s", exc.__class__.__name__), transient=True
            ) from exc
        if status != 200:
            self._rossum_log_login(status, started, _("login refused"))
            if status in (400, 401, 403):
                raise PlatformCallError(
                    _("Rossum refused the login (HTTP %s): check the API login and password.", status),
                    status=status,
                )
            raise PlatformCallError.from_response(
                _("Rossum answered HTTP %s to the login.", status), response
            )
        try:
            token = response.json()["key"]
        except (ValueError, KeyError, TypeError) as exc:
            self._rossum_log_login(status, started, _("no key in the answer"))
            raise PlatformCallError(_("Rossum's login answer carries no key.")) from exc
        self._rossum_log_login(status, started, None)
        return token

    def _rossum_log_login(self, status, started, error):
        self.env["ap.sync.log"]._log_call(
            platform=self,
            direction="outbound",
            method="POST",
            endpoint="/v1/auth/login",
            event_type="rossum.login",
            http_status=status,
            duration_ms=int((time.monotonic() - started) * 1000),
            outcome=self.env["ap.sync.log"]._outcome_for_status(status),
            error=error,
        )

    def _rossum_throttle(self):
        """Stay under Rossum's 10 requests per second (per platform, in this process)."""
        interval = 1.0 / MAX_REQUESTS_PER_SECOND * 1.1
        with _throttle_lock:
            now = time.monotonic()
            wait = _last_request_at.get(self.id, 0) + interval - now
            _last_request_at[self.id] = max(now, _last_request_at.get(self.id, 0) + interval)
        if wait > 0:
            time.sleep(wait)

    def _get_request_headers(self, idempotency_key=None):
        if self.provider != "rossum":
            return super()._get_request_headers(idempotency_key)
        self.ensure_one()
        token = self._rossum_token()
        self._rossum_throttle()  # headers are built just before each request
        headers = {
            "Accept": "application/json",
            "User-Agent": "odoo-account_ap_sync/1.0",
            "Authorization": f"Bearer {token}",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _handle_unauthorized(self, response):
        if self.provider != "rossum":
            return super()._handle_unauthorized(response)
        # The token expired or was revoked: log in again, once.
        _logger.info("AP Sync %s: Rossum answered 401, logging in again", self.code)
        self._rossum_forget_token()
        self._rossum_token(force_login=True)
        return True

    def _secret_values(self):
        values = super()._secret_values()
        for value in list(values):
            if value.startswith("{") and '"token"' in value:
                try:
                    values.append(json.loads(value)["token"])
                except (ValueError, KeyError, TypeError):
                    continue
        return values

    def _test_connection(self):
        if self.provider != "rossum":
            return super()._test_connection()
        self.ensure_one()
        try:
            self._rossum_token(force_login=True)
            response = self._call(
                "GET", "/v1/queues", params={"page_size": 100}, event_type="test_connection"
            )
        except PlatformCallError as exc:
            return False, exc.args[0]
        if not response.ok:
            return False, _(
                "Logged in, but Rossum answered HTTP %s when listing the queues.", response.status_code
            )
        try:
            queues = {str(q.get("id")): q.get("name") or "" for q in response.json().get("results") or []}
        except (ValueError, AttributeError):
            return False, _("Logged in, but the list of queues is not JSON.")
        wanted = self._rossum_queue_list()
        missing = [queue for queue in wanted if queue not in queues]
        listed = ", ".join(f"{qid} ({name})" for qid, name in queues.items()) or _("none")
        if not wanted:
            return False, _("Logged in as %(login)s. Queues visible: %(queues)s. Set the queue ids to read.",
                            login=self.api_login, queues=listed)  # fmt: skip
        if missing:
            return False, _("Logged in as %(login)s, but queue(s) %(missing)s are not visible. Queues visible: %(queues)s.",
                            login=self.api_login, missing=", ".join(missing), queues=listed)  # fmt: skip
        return True, _("Connection OK: logged in as %(login)s; queues %(queues)s.", login=self.api_login,
                       queues=", ".join(f"{qid} ({queues[qid]})" for qid in wanted))  # fmt: skip

    # ------------------------------------------------------------------ inbound
    @api.model
    def _get_intake_fields(self):
        # What a Rossum hook call reads: the queues it serves, and what fetching its content needs.
        return [*super()._get_intake_fields(), "rossum_queue_ids", "base_url", "api_login",
                "timeout_connect", "timeout_read"]  # fmt: skip

    def _verify_inbound(self, headers, raw, context):
        if self.provider != "rossum":
            return super()._verify_inbound(headers, raw, context)
        self.ensure_one()
        signature = (headers.get(SIGNATURE_HEADER) or "").strip()
        if not signature:
            detail = (
                "sha1 signatures (X-Elis-Signature) are not accepted: send X-Rossum-Signature-SHA256"
                if headers.get(SHA1_HEADER)
                else "X-Rossum-Signature-SHA256 header missing"
            )
            raise IntakeError(401, {"error": "invalid_signature", "detail": detail})
        match = SIGNATURE_PATTERN.match(signature)
        if not match:
            detail = (
                "sha1 signatures are not accepted: sign with HMAC-SHA256"
                if signature.lower().startswith("sha1=")
                else "X-Rossum-Signature-SHA256 must be sha256=<64 hex digits>"
            )
            raise IntakeError(401, {"error": "invalid_signature", "detail": detail})
        secrets = self._get_webhook_secrets()
        if not secrets:
            _logger.warning("AP Sync webhook %s: no hook secret configured, request refused", self.code)
        given = match.group(1).lower()
        if not any(
            hmac.compare_digest(hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(), given)
            for secret in secrets
        ):
            raise IntakeError(401, {"error": "invalid_signature"})
        text = self._decode_body(raw)
        payload = self._load_json(text)
        if not isinstance(payload, dict):
            raise IntakeError(400, {"error": "invalid_envelope", "detail": "the body must be a JSON object"})
        context["rossum_payload"] = payload
        request_id = str(payload.get("request_id") or "").strip()
        # A retried hook call carries the same request_id (and body); without one, the body identifies it.
        message_id = f"rossum:{request_id}" if request_id else f"rossum:{hashlib.sha256(raw).hexdigest()}"
        return message_id[:255], text

    def _parse_inbound(self, text, headers, message_id, context):
        if self.provider != "rossum":
            return super()._parse_inbound(text, headers, message_id, context)
        self.ensure_one()
        payload = context.get("rossum_payload") or self._load_json(text)
        event, action = payload.get("event"), payload.get("action")
        annotation = payload.get("annotation")
        if not isinstance(annotation, dict):
            annotation = {}
        status = annotation.get("status")
        wanted = (event == "annotation_content" and action == "export") or (
            event == "annotation_status" and action == "changed" and status in ACCEPTED_STATUS_CHANGES
        )
        queues = self._rossum_queue_list()
        if wanted and queues and _queue_id(annotation) not in queues:
            wanted = False
            context["rossum_ignored"] = _("queue %s is not one of this platform's", _queue_id(annotation))
        if not wanted:
            context.setdefault("rossum_ignored", f"{event}/{action}" + (f" to {status}" if status else ""))
            _logger.info("AP Sync webhook %s: Rossum %s ignored", self.code, context["rossum_ignored"])
            return []
        if not _annotation_id(annotation):
            raise IntakeError(422, {"error": "schema_violation", "errors": [
                {"path": "/annotation/id", "message": "the hook payload carries no annotation"}]})  # fmt: skip
        context["rossum_async"] = event == "annotation_content"
        content = annotation.get("content")
        if not isinstance(content, list):
            content = self._rossum_fetch_content(_annotation_id(annotation), content)
            if content is None:
                detail = "the annotation content could not be read from Rossum"
                raise IntakeError(424, {"error": "content_unavailable", "detail": detail})
        data = self._rossum_to_canonical(annotation, content)
        envelope = {"type": "invoice.approved", "timestamp": payload.get("timestamp"), "data": data}
        return [(message_id, envelope)]

    def _describe_schema_errors(self, errors, envelope):
        if self.provider != "rossum":
            return super()._describe_schema_errors(errors, envelope)
        schema_ids = self._get_rossum_schema_ids()
        described = []
        for error in errors:
            path, message = error.get("path") or "", error.get("message") or ""
            field = PATH_FIELDS.get(path)
            line = re.match(r"^/lines/(\d+)/(\w+)", path)
            if line and line.group(2) in LINE_PATH_FIELDS:
                datapoint = f"{schema_ids['lines']}[{int(line.group(1)) + 1}].{schema_ids[LINE_PATH_FIELDS[line.group(2)]]}"
            elif isinstance(field, tuple):
                datapoint = " or ".join(schema_ids[name] for name in field)
            elif field:
                datapoint = schema_ids[field]
            else:
                datapoint = None
            if datapoint and "required property" in message:
                text = _("Required datapoint %(dp)s is missing or empty.", dp=datapoint)
            elif datapoint and path == "/supplier":
                text = _(
                    "Required datapoint %(dp)s is missing or empty: the vendor is unknown.", dp=datapoint
                )
            elif datapoint:
                text = _("Datapoint %(dp)s: %(msg)s", dp=datapoint, msg=message)
            else:
                text = f"{path or '/'}: {message}"
            described.append(dict(error, message=text, datapoint=datapoint))
        return described

    def _render_inbound_answer(self, status, body, context):
        if self.provider != "rossum":
            return super()._render_inbound_answer(status, body, context)
        payload = context.get("rossum_payload") or {}
        if status == 422:
            # Refused at the door: an error message Rossum shows to its user (export fails with it).
            messages = [
                {"type": "error", "content": (error.get("message") or "")[:MESSAGE_LIMIT]}
                for error in body.get("errors") or []
            ] or [{"type": "error", "content": _("Odoo refused the document.")}]
            return 200, dict(body, messages=messages), {}
        if status >= 400:
            detail = body.get("detail") or body.get("error") or ""
            return (
                status,
                dict(body, messages=[{"type": "error", "content": f"Odoo: {detail}"[:MESSAGE_LIMIT]}]),
                {},
            )
        event = context.get("event")
        if event and payload.get("event") == "annotation_content" and payload.get("action") == "export":
            return self._rossum_export_result(event, context.get("base_url"))
        messages = []
        if event and event.staging_id:
            messages.append({"type": "info", "content": _("Received by Odoo as %s.", event.staging_id.name)})
        return 200, dict(body, messages=messages), {}

    def _rossum_poll_token(self, message_id):
        secret = (self._get_webhook_secrets() or [""])[0]
        return hmac.new(secret.encode(), f"{self.code}:{message_id}".encode(), hashlib.sha256).hexdigest()[
            :40
        ]

    def _rossum_poll_url(self, event, base_url=None):
        from urllib.parse import quote

        base = (base_url or self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")).rstrip("/")
        token = self._rossum_poll_token(event.webhook_id)
        return f"{base}/ap_sync/webhook/{self.code}/rossum-result/{quote(event.webhook_id, safe='')}?token={token}"

    def _rossum_export_result(self, event, base_url=None):
        """The answer to Rossum's export hook (and to each of its polls): success once the bill exists,
        an error message with the reason when the document stopped, 202 + Location while it waits."""
        staging = event.staging_id
        if staging.move_id:
            content = _("Bill %s created in Odoo.", staging.move_id.name or staging.move_id.display_name)
            messages = [{"type": "info", "content": content}]
            if staging.attention_required:
                messages.append(
                    {"type": "warning", "content": (staging.attention_reason or "")[:MESSAGE_LIMIT]}
                )
            return 200, {"status": "done", "messages": messages}, {}
        if not staging or staging.state in ("exception", "rejected", "cancelled", "duplicate"):
            reason = (
                staging.exception_reason or staging.state_reason or staging.state
                if staging
                else event.note or _("nothing was staged")
            )
            content = _("Odoo cannot create the bill: %s", reason)[:MESSAGE_LIMIT]
            return 200, {"status": "failed", "messages": [{"type": "error", "content": content}]}, {}
        headers = {"Location": self._rossum_poll_url(event, base_url), "Retry-After": str(POLL_RETRY_AFTER)}
        return 202, {"status": "pending", "reference": staging.name, "messages": []}, headers

    # ------------------------------------------------------------------ mapping
    def _rossum_to_canonical(self, annotation, content):
        """The canonical invoice (schema 1.0) of an annotation and its content tree (sections ->
        datapoints; the line items multivalue holds tuples). Values prefer ``normalized_value``.
        What is missing is left out, so that the schema names it (see ``_describe_schema_errors``)."""
        self.ensure_one()
        ids = self._get_rossum_schema_ids()
        header, lines = {}, []
        line_ids = {ids[name] for name in DATAPOINTS if name.startswith("line_")}

        def value_of(datapoint):
            body = datapoint.get("content") if isinstance(datapoint.get("content"), dict) else {}
            for key in ("normalized_value", "value"):
                value = body.get(key)
                if value not in (None, ""):
                    return str(value), key
            return None, None

        def walk(nodes):
            for node in nodes or []:
                if not isinstance(node, dict):
                    continue
                category = node.get("category")
                if category == "multivalue" and node.get("schema_id") == ids["lines"]:
                    for row in node.get("children") or []:
                        line = {}
                        for dp in (row.get("children") or []) if isinstance(row, dict) else []:
                            if isinstance(dp, dict) and dp.get("schema_id") in line_ids:
                                line[dp["schema_id"]] = value_of(dp)
                        if any(value for value, _key in line.values()):
                            lines.append(line)
                elif category == "datapoint":
                    header.setdefault(node.get("schema_id"), value_of(node))
                else:
                    walk(node.get("children"))

        walk(content)

        def get(name, source=None):
            source = header if source is None else source
            return (source.get(ids[name]) or (None, None))[0]

        def amount(name, source=None):
            source = header if source is None else source
            value, key = source.get(ids[name]) or (None, None)
            if value is None:
                return None
            return parse_amount(value) if key == "value" or not re.match(r"^-?\d+(\.\d+)?$", value) else value

        data = {"schema_version": "1.0", "id": _annotation_id(annotation)}
        doc_type = (get("document_type") or "").lower()
        data["document_type"] = "credit_note" if "credit" in doc_type else "invoice"
        for key, name in (("number", "number"), ("purchase_order_ref", "purchase_order_ref")):
            if get(name):
                data[key] = get(name).strip()
        for key in ("issue_date", "due_date"):
            value = parse_date(get(key))
            if value:
                data[key] = value
        currency = (get("currency") or "").strip().upper() or self.company_id.currency_id.name
        data["currency"] = currency
        supplier = {}
        for key, name in (("name", "supplier_name"), ("vat", "supplier_vat"), ("iban", "supplier_iban")):
            if get(name):
                supplier[key] = get(name).strip()
        data["supplier"] = supplier
        gross, net, tax = amount("total_gross"), amount("total_net"), amount("total_tax")
        numeric = re.compile(r"^-?\d+(\.\d+)?$")
        if net is None and gross and tax and numeric.match(gross) and numeric.match(tax):
            net = _money(Decimal(gross) - Decimal(tax))
        if tax is None and gross and net and numeric.match(gross) and numeric.match(net):
            tax = _money(Decimal(gross) - Decimal(net))
        totals = {
            key: value for key, value in (("net", net), ("tax", tax), ("gross", gross)) if value is not None
        }
        data["totals"] = totals
        canonical_lines = []
        for line in lines:
            quantity = amount("line_quantity", line) or "1"
            price, line_net = amount("line_unit_price", line), amount("line_net", line)
            rate = amount("line_tax_rate", line)
            if line_net is None and price and numeric.match(price) and numeric.match(quantity):
                line_net = _money(Decimal(price) * Decimal(quantity))
            if (
                price is None
                and line_net
                and numeric.match(line_net)
                and numeric.match(quantity)
                and Decimal(quantity)
            ):
                price = format(
                    (Decimal(line_net) / Decimal(quantity)).quantize(Decimal("0.0001")).normalize(), "f"
                )
            item = {"description": (get("line_description", line) or "")[:1000], "quantity": quantity}
            if price is not None:
                item["unit_price"] = price
            if line_net is not None:
                item["net_amount"] = line_net
            if rate is not None and numeric.match(rate):
                item["tax"] = {"category": "S" if Decimal(rate) else "Z", "rate": rate}
            canonical_lines.append(item)
        if not canonical_lines and net is not None and numeric.match(net):
            # No line items captured: one line for the whole invoice, at the rate its totals imply.
            item = {"description": supplier.get("name") or data.get("number") or "Invoice", "quantity": "1",
                    "unit_price": net, "net_amount": net}  # fmt: skip
            if tax is not None and numeric.match(tax) and Decimal(net):
                rate = (Decimal(tax) * 100 / Decimal(net)).quantize(Decimal("0.01"))
                item["tax"] = {"category": "S" if rate else "Z", "rate": format(rate.normalize(), "f")}
            canonical_lines.append(item)
        data["lines"] = canonical_lines
        status = annotation.get("status") or ""
        data["approval"] = {"status": "approved" if status in APPROVED_STATUSES else (status or "unknown")}
        return data

    def _rossum_fetch_content(self, annotation_id, url=None, log_values=None):
        """The content tree of an annotation (``GET /v1/annotations/{id}/content``, or the content URL
        the annotation gives, when it is under the API root). None when Rossum does not give it."""
        path = f"/v1/annotations/{segment(annotation_id)}/content"
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            try:
                path = self._rossum_relative(url)
            except PlatformCallError:
                # Another host: the documented path instead (never credentials to another host).
                _logger.info("AP Sync %s: content URL %s is not under the API root", self.code, url)
        response = self._rossum_get(path, "rossum.content", log_values)
        if response is None or not response.ok:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        content = body.get("content") if isinstance(body, dict) else body
        return content if isinstance(content, list) else None

    def _rossum_get(self, path, event_type, log_values=None):
        """GET with one retry after a 429 (honouring Retry-After, at most 10 s). None on a transport error."""
        for attempt in range(2):
            try:
                response = self._call("GET", path, event_type=event_type, log_values=log_values)
            except PlatformCallError:
                return None
            if response.status_code != 429 or attempt:
                return response
            time.sleep(min(parse_retry_after(response.headers.get("Retry-After")) or 1, 10))
        return response

    # ------------------------------------------------------------------ pull
    def _list_documents(self, cursor=None, page_size=100):
        if self.provider != "rossum":
            return super()._list_documents(cursor, page_size)
        self.ensure_one()
        queues = self._rossum_queue_list()
        if not queues:
            raise PlatformCallError(_("Set the Rossum queue ids of %s to pull from.", self.display_name))
        try:
            position = json.loads(cursor) if cursor else {"q": 0, "next": None}
        except ValueError:
            position = {"q": 0, "next": None}
        index = min(int(position.get("q") or 0), len(queues) - 1)
        path = position.get("next") or (
            f"/v1/queues/{segment(queues[index])}/export?format=json&status=confirmed&page=1&page_size={page_size}"
        )
        response = self._call("GET", path, event_type="pull")
        if not response.ok:
            raise PlatformCallError.from_response(
                _("Rossum answered HTTP %(status)s to the export of queue %(queue)s.",
                  status=response.status_code, queue=queues[index]),
                response,
            )  # fmt: skip
        try:
            page = response.json()
            results = page["results"]
            next_link = (page.get("pagination") or {}).get("next")
            if not isinstance(results, list):
                raise TypeError("results is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformCallError(
                _("Rossum answered an export page that is not {pagination, results}: %s", exc)
            ) from exc
        documents = []
        for item in results:
            if not isinstance(item, dict):
                continue
            content = item.get("content") if isinstance(item.get("content"), list) else []
            raw = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
            documents.append({"data": self._rossum_to_canonical(item, content), "raw": raw})
        if next_link:
            next_cursor = json.dumps({"q": index, "next": self._rossum_relative(next_link)})
        elif index + 1 < len(queues):
            next_cursor = json.dumps({"q": index + 1, "next": None})
        else:
            next_cursor = None
        return {"documents": documents, "next_cursor": next_cursor}

    def _rossum_relative(self, link):
        """A ``next`` link as a path under the base URL; a link to another host is refused."""
        base = urlsplit(self.base_url.rstrip("/"))
        target = urlsplit(link)
        if target.netloc and (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise PlatformCallError(
                _("Rossum's next link points to another host (%s): not followed.", target.netloc)
            )
        path = target.path
        if not path.startswith(base.path):
            raise PlatformCallError(_("Rossum's next link is outside the API root: not followed."))
        return path[len(base.path) :] + (f"?{target.query}" if target.query else "")

    def _reconcile_fetch_page(self, updated_since=None, cursor=None, limit=100):
        if self.provider != "rossum":
            return super()._reconcile_fetch_page(updated_since=updated_since, cursor=cursor, limit=limit)
        raise UserError(
            _("Reconciliation with Rossum is not available yet: Rossum's queue export lists annotations, not "
              "the erp statuses this reconciliation compares.")
        )  # fmt: skip

    # ------------------------------------------------------------------ approval re-verification
    def _fetch_document(self, staging):
        if self.provider != "rossum":
            return super()._fetch_document(staging)
        self.ensure_one()
        log_values = {"staging_id": staging.id}
        response = self._rossum_get(
            f"/v1/annotations/{segment(staging.document_id)}", "verify_approval", log_values
        )
        if response is None or not response.ok:
            status = response.status_code if response is not None else _("no answer")
            return None, _(
                "Rossum answered %(status)s when asked for annotation %(annotation)s.",
                status=status,
                annotation=staging.document_id,
            )
        try:
            annotation = response.json()
        except ValueError:
            return None, _("Rossum's answer is not JSON.")
        status = annotation.get("status") if isinstance(annotation, dict) else None
        if status not in APPROVED_STATUSES:
            return None, _(
                "Rossum now says annotation %(id)s is %(status)s (not confirmed, exporting or exported).",
                id=staging.document_id, status=status or "-",
            )  # fmt: skip
        if not isinstance(annotation, dict):
            return None, _("Rossum's answer is not an annotation.")
        content = annotation.get("content")
        if not isinstance(content, list):  # a URL (the API does not sideload on a single annotation)
            content = self._rossum_fetch_content(staging.document_id, content, log_values)
            if content is None:
                return None, _(
                    "The content of annotation %s could not be read from Rossum.", staging.document_id
                )
        return self._rossum_to_canonical(annotation, content), None

    # ------------------------------------------------------------------ outbound
    def _render_outbound(self, kind, payload, target=None, message=None):
        if self.provider != "rossum":
            return super()._render_outbound(kind, payload, target=target, message=message)
        if kind != "erp_status" or not target:
            return None  # Rossum has no place for vendors, POs or vendor-request answers
        status = payload.get("status")
        path = f"/v1/annotations/{segment(target)}"
        if status == "rejected":
            return {"method": "POST", "path": f"{path}/reject",
                    "payload": {"note_content": payload.get("message") or _("Rejected in Odoo.")}}  # fmt: skip
        keys = ("status", "erp_reference", "erp_id", "amount_residual", "payment_date")
        metadata = {"odoo_ap_sync": {key: payload[key] for key in keys if payload.get(key) is not None}}
        body = {"metadata": metadata}
        if status == "bill_created":
            body["status"] = "exported"  # only now: Odoo has the bill
        return {"method": "PATCH", "path": path, "payload": body}


class ApRossumDatapoint(models.Model):
    """Which datapoint of a customer's Rossum schema holds a canonical field (defaults: Rossum's
    standard invoice schema)."""

    _name = "ap.rossum.datapoint"
    _description = "Rossum Datapoint Mapping"
    _order = "platform_id, field"

    platform_id = fields.Many2one(
        "ap.platform", required=True, ondelete="cascade", index=True, domain=[("provider", "=", "rossum")]
    )
    field = fields.Selection(
        [(name, label) for name, (_default, label) in DATAPOINTS.items()], required=True, string="Odoo Field"
    )
    default_schema_id = fields.Char(compute="_compute_default_schema_id", string="Standard Schema ID")
    schema_id = fields.Char(
        string="Schema ID", required=True, help="The datapoint's id in the queue's schema (its schema_id)."
    )

    _sql_constraints = [
        ("platform_field_uniq", "unique(platform_id, field)", "A field is mapped once per platform."),
    ]

    @api.depends("field")
    def _compute_default_schema_id(self):
        for row in self:
            row.default_schema_id = DATAPOINTS.get(row.field, (False,))[0]

    @api.constrains("schema_id")
    def _check_schema_id(self):
        for row in self:
            if not re.match(r"^[A-Za-z0-9_.\-]{1,50}$", (row.schema_id or "").strip()):
                raise UserError(_("A Rossum schema id holds letters, digits, '_', '-' and '.' only."))

    @api.model
    def _get_default_schema_id(self, field_name):
        return DATAPOINTS[field_name][0]
