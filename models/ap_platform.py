import logging
import re
import threading
import time
import urllib.request
from datetime import timedelta

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..exceptions import PlatformCallError
from ..utils import crypto
from ..utils.redact import scrub_text

_logger = logging.getLogger(__name__)

MANAGER_GROUP = "account_ap_sync.group_ap_sync_manager"
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_MAX_PAYLOAD = 10 * 1024 * 1024
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
# Contract section 2: answers that are worth retrying.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_session_store = threading.local()


class _TimeoutAdapter(HTTPAdapter):
    """Applies the platform's timeouts (contract: 5 s connect, 30 s read) to every call made without one.

    They travel in a thread-local rather than the ``timeout`` argument, which Odoo's test harness
    rewrites."""

    def send(self, request, timeout=None, **kwargs):
        timeout = timeout or getattr(_session_store, "timeouts", None) or (CONNECT_TIMEOUT, READ_TIMEOUT)
        return super().send(request, timeout=timeout, **kwargs)


def _http_session():
    """One keep-alive ``requests.Session`` per thread (cron workers and request threads)."""
    session = getattr(_session_store, "session", None)
    if session is None:
        session = _session_store.session = requests.Session()
        # Proxy settings are read once, not on every call (requests would re-read the environment
        # and ~/.netrc for each request); HTTP(S)_PROXY and NO_PROXY are still honoured.
        session.trust_env = False
        session.proxies.update(
            {
                ("no_proxy" if key == "no" else key): value
                for key, value in urllib.request.getproxies().items()
            }
        )
        adapter = _TimeoutAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def parse_retry_after(value):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0, int(when.timestamp() - time.time()))


class ApPlatform(models.Model):
    """An AP automation platform connected to one company."""

    _name = "ap.platform"
    _description = "AP Automation Platform"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True, translate=False)
    code = fields.Char(
        required=True,
        tracking=True,
        copy=False,
        help="Short identifier used in the webhook URL /ap_sync/webhook/<code>: letters, digits, '-' and '_'.",
    )
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    provider = fields.Selection(
        [("generic", "Generic (AP Sync contract)")],
        required=True,
        default="generic",
        tracking=True,
        help="Which platform this is, and so how its webhooks are verified and read, how Odoo authenticates "
        "and which calls it makes. Generic: a platform speaking this module's own contract (docs/contract.md).",
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company, tracking=True
    )
    mode = fields.Selection(
        [("webhook", "Webhook"), ("pull", "Scheduled pull"), ("both", "Webhook and pull")],
        required=True,
        default="webhook",
        tracking=True,
        help="How invoices arrive: pushed by the platform to the webhook URL, pulled by a scheduled "
        "action, or both.",
    )
    base_url = fields.Char(
        string="Base URL",
        tracking=True,
        help="Root of the platform's REST API, e.g. https://ap.example.com/api/v1",
    )
    webhook_url = fields.Char(compute="_compute_webhook_url", help="Give this URL to the platform.")

    # Secrets: write-only fields, stored encrypted in ap.platform.secret.
    api_key = fields.Char(
        string="API Key",
        compute="_compute_secret_inputs",
        inverse="_inverse_api_key",
        groups=MANAGER_GROUP,
        copy=False,
        help="Bearer token for calls to the platform. Write-only: stored encrypted, never shown again.",
    )
    webhook_secret = fields.Char(
        compute="_compute_secret_inputs",
        inverse="_inverse_webhook_secret",
        groups=MANAGER_GROUP,
        copy=False,
        help="Standard Webhooks signing secret (whsec_...). Write-only: stored encrypted, never shown again. "
        "Use 'Rotate webhook secret' to keep the old one valid for a while.",
    )
    webhook_secret_previous = fields.Char(
        string="Previous Webhook Secret",
        compute="_compute_secret_inputs",
        inverse="_inverse_webhook_secret_previous",
        groups=MANAGER_GROUP,
        copy=False,
        help="Still accepted until its expiry, so that the platform can switch secrets without losing events.",
    )
    webhook_secret_previous_expiry = fields.Datetime(
        string="Previous Secret Valid Until", copy=False, tracking=True, groups=MANAGER_GROUP
    )
    api_key_set = fields.Boolean(compute="_compute_secret_flags", string="API Key Stored")
    webhook_secret_set = fields.Boolean(compute="_compute_secret_flags", string="Webhook Secret Stored")
    webhook_secret_previous_set = fields.Boolean(
        compute="_compute_secret_flags", string="Previous Secret Stored"
    )

    # Accounting
    journal_id = fields.Many2one(
        "account.journal",
        string="Purchase Journal",
        check_company=True,
        domain="[('type', '=', 'purchase')]",
        tracking=True,
        help="Journal of the vendor bills created from this platform. Empty: the company's first purchase journal.",
    )
    default_expense_account_id = fields.Many2one(
        "account.account",
        string="Default Expense Account",
        check_company=True,
        domain="[('deprecated', '=', False), ('account_type', 'in', ('expense', 'expense_direct_cost', "
        "'asset_current', 'asset_non_current'))]",
        tracking=True,
        help="Used for a line when neither its account code, its product nor the vendor gives an account.",
    )
    auto_post = fields.Boolean(
        tracking=True,
        help="Post the bill automatically when every check passed and the acting user may post. "
        "Otherwise bills stay in draft for an accountant.",
    )
    verify_approval = fields.Boolean(
        default=True,
        tracking=True,
        help="Before creating a bill, ask the platform (GET /invoices/{id}) whether the invoice is still "
        "approved and unchanged.",
    )
    auto_create_vendor = fields.Boolean(
        tracking=True,
        help="When no vendor matches, create one from the invoice's supplier data (with a vendor mapping). "
        "Off: an unknown vendor waits for a person.",
    )
    max_payload_size = fields.Integer(
        string="Max Payload Size (bytes)",
        default=DEFAULT_MAX_PAYLOAD,
        required=True,
        help="Webhook bodies above this size are refused with HTTP 413 without being read.",
    )

    # Outbound delivery
    retry_base = fields.Integer(
        string="Retry Base (s)", default=30, help="Backoff: random(0, min(cap, base * 2^attempt)) seconds."
    )
    retry_cap = fields.Integer(
        string="Retry Cap (s)", default=3600, help="Longest wait between two attempts."
    )
    retry_max_attempts = fields.Integer(
        string="Max Attempts",
        default=8,
        help="After this many failed attempts a message becomes a dead letter.",
    )
    timeout_connect = fields.Float(string="Connect Timeout (s)", default=CONNECT_TIMEOUT)
    timeout_read = fields.Float(string="Read Timeout (s)", default=READ_TIMEOUT)

    # Pull
    pull_interval = fields.Integer(
        string="Pull Interval (minutes)", default=15, help="Minimum time between two scheduled pulls."
    )
    pull_cursor = fields.Char(copy=False, readonly=True, help="Cursor of the last committed pull batch.")
    pull_updated_since = fields.Datetime(
        copy=False,
        readonly=True,
        help="Newest updated_at seen by a completed pull; the next pull starts there.",
    )
    pull_next_at = fields.Datetime(string="Next Pull", copy=False, readonly=True)

    last_success_at = fields.Datetime(compute="_compute_last_sync", string="Last Success")
    last_failure_at = fields.Datetime(compute="_compute_last_sync", string="Last Failure")
    last_failure_message = fields.Text(compute="_compute_last_sync", string="Last Failure Message")

    _sql_constraints = [
        ("code_uniq", "unique(code)", "The platform code must be unique: it identifies the webhook URL."),
        (
            "max_payload_size_positive",
            "CHECK(max_payload_size > 0)",
            "The maximum payload size must be positive.",
        ),
        (
            "pull_interval_positive",
            "CHECK(pull_interval IS NULL OR pull_interval > 0)",
            "The pull interval must be positive.",
        ),
    ]

    # ------------------------------------------------------------------ constraints
    @api.constrains("code")
    def _check_code(self):
        for platform in self:
            if not CODE_PATTERN.match(platform.code or ""):
                raise ValidationError(
                    _(
                        "The platform code '%s' may only hold letters, digits, '-' and '_' (at most 64).",
                        platform.code,
                    )
                )

    @api.constrains("mode", "base_url")
    def _check_base_url(self):
        for platform in self:
            if platform.base_url and not re.match(r"^https?://", platform.base_url):
                raise ValidationError(_("The base URL must start with http:// or https://."))
            if platform.mode in ("pull", "both") and not platform.base_url:
                raise ValidationError(_("A platform that is pulled needs a base URL."))

    # ------------------------------------------------------------------ computes
    @api.depends("code")
    def _compute_webhook_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for platform in self:
            platform.webhook_url = f"{base}/ap_sync/webhook/{platform.code}" if platform.code else False

    def _compute_secret_inputs(self):
        # Write-only: the clear value is never read back into a field.
        for platform in self:
            platform.api_key = False
            platform.webhook_secret = False
            platform.webhook_secret_previous = False

    def _compute_secret_flags(self):
        stored = {
            (row.platform_id.id, row.kind)
            for row in self.env["ap.platform.secret"].sudo().search([("platform_id", "in", self.ids)])
        }
        for platform in self:
            platform.api_key_set = (platform.id, "api_key") in stored
            platform.webhook_secret_set = (platform.id, "webhook_secret") in stored
            platform.webhook_secret_previous_set = (platform.id, "webhook_secret_previous") in stored

    def _compute_last_sync(self):
        Log = self.env["ap.sync.log"].sudo()
        for platform in self:
            success = Log.search(
                [("platform_id", "=", platform.id), ("outcome", "in", ("success", "duplicate"))],
                order="id desc",
                limit=1,
            )
            failure = Log.search(
                [("platform_id", "=", platform.id), ("outcome", "in", ("rejected", "error"))],
                order="id desc",
                limit=1,
            )
            platform.last_success_at = success.create_date
            platform.last_failure_at = failure.create_date
            platform.last_failure_message = failure.error or (failure and failure.display_name) or False

    # ------------------------------------------------------------------ secrets
    def _inverse_api_key(self):
        self._store_secret_input("api_key", _("API key changed."))

    def _inverse_webhook_secret(self):
        self._store_secret_input("webhook_secret", _("Webhook secret changed."), webhook_format=True)

    def _inverse_webhook_secret_previous(self):
        self._store_secret_input(
            "webhook_secret_previous", _("Previous webhook secret changed."), webhook_format=True
        )

    def _store_secret_input(self, kind, message, webhook_format=False):
        """Encrypt what was typed into the write-only field ``kind`` (its name is the secret's kind)."""
        for platform in self:
            value = platform[kind]
            if not value:
                continue
            value = platform._check_webhook_secret_format(value) if webhook_format else value.strip()
            self.env["ap.platform.secret"]._set(platform, kind, value)
            platform.message_post(body=message)

    def _check_webhook_secret_format(self, secret):
        """Provider hook: the webhook secret, cleaned, or a UserError saying what is expected.

        Generic: a Standard Webhooks secret (``whsec_`` + base64). Other providers override it."""
        secret = (secret or "").strip()
        if self and self[:1].provider != "generic":
            if not secret:
                raise UserError(_("The webhook secret is empty."))
            return secret
        try:
            Webhook(secret)
        except Exception as exc:
            raise UserError(
                _(
                    "The webhook secret is not a valid Standard Webhooks secret: expected 'whsec_' followed by base64."
                )
            ) from exc
        if not secret.startswith("whsec_"):
            raise UserError(_("The webhook secret must start with 'whsec_' (Standard Webhooks format)."))
        return secret

    def _get_api_key(self):
        """Clear API key, for outbound calls only (decrypted once per transaction)."""
        self.ensure_one()
        cache = self.env.cr.cache.setdefault("account_ap_sync.api_keys", {})
        key = (self.id, crypto.keys_fingerprint())
        if key not in cache:
            cache[key] = self.env["ap.platform.secret"]._get(self, "api_key")
        return cache[key]

    def _get_webhook_secrets(self):
        """Clear webhook secrets currently accepted: the current one, then the previous one until its expiry."""
        self.ensure_one()
        Secret = self.env["ap.platform.secret"]
        secrets = []
        current = Secret._get(self, "webhook_secret")
        if current:
            secrets.append(current)
        expiry = self.sudo().webhook_secret_previous_expiry
        if expiry and expiry > fields.Datetime.now():
            previous = Secret._get(self, "webhook_secret_previous")
            if previous:
                secrets.append(previous)
        return secrets

    def _rotate_webhook_secret(self, new_secret, grace_hours):
        """Make ``new_secret`` current; the old one stays valid for ``grace_hours``."""
        self.ensure_one()
        Secret = self.env["ap.platform.secret"]
        new_secret = self._check_webhook_secret_format(new_secret)
        current = Secret._get(self, "webhook_secret")
        if current:
            Secret._set(self, "webhook_secret_previous", current)
            self.sudo().webhook_secret_previous_expiry = fields.Datetime.now() + timedelta(hours=grace_hours)
        Secret._set(self, "webhook_secret", new_secret)
        self.message_post(
            body=_("Webhook secret rotated; the previous secret is accepted for %s more hours.", grace_hours)
        )

    def action_clear_api_key(self):
        self._clear_secret("api_key", _("API key removed."))

    def action_clear_webhook_secret_previous(self):
        self._clear_secret("webhook_secret_previous", _("Previous webhook secret removed."))
        self.sudo().webhook_secret_previous_expiry = False

    def _clear_secret(self, kind, message):
        self.check_access("write")
        for platform in self:
            self.env["ap.platform.secret"]._set(platform, kind, None)
            platform.message_post(body=message)

    def _secret_values(self):
        """Every clear secret of these platforms, to scrub them from texts shown to people."""
        Secret = self.env["ap.platform.secret"].sudo()
        values = []
        for row in Secret.search([("platform_id", "in", self.ids)]):
            try:
                values.append(crypto.decrypt(row.token))
            except UserError:
                continue
        return values

    # ------------------------------------------------------------------ outbound HTTP
    def _get_request_headers(self, idempotency_key=None):
        """Headers of one outbound call. Providers override it for their authentication (guarded by
        ``provider``); the generic provider sends the stored API key as a Bearer token."""
        self.ensure_one()
        headers = {"Accept": "application/json", "User-Agent": "odoo-account_ap_sync/1.0"}
        api_key = self._get_api_key()
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _get_url(self, path):
        """The absolute URL of ``path`` (relative to the base URL)."""
        self.ensure_one()
        return self.base_url.rstrip("/") + path

    def _handle_unauthorized(self, response):
        """Provider hook, called once when a call is answered 401: return True to send it again with
        fresh headers (e.g. after logging in again). The generic provider's API key does not expire."""
        return False

    def _call(
        self,
        method,
        path,
        params=None,
        payload=None,
        idempotency_key=None,
        event_type=None,
        log_values=None,
        deferred_logs=None,
    ):
        """Call the platform's API and leave one sync-log entry.

        Returns the ``requests.Response`` whatever its status; raises :class:`PlatformCallError`
        (``transient=True``) on timeouts and connection errors. The caller decides what a status means.
        """
        self.ensure_one()
        if not self.base_url:
            raise PlatformCallError(_("Platform %s has no base URL.", self.display_name))
        url = self._get_url(path)
        headers = self._get_request_headers(idempotency_key)
        started = time.monotonic()
        response = error = None
        _session_store.timeouts = (self.timeout_connect or CONNECT_TIMEOUT, self.timeout_read or READ_TIMEOUT)
        try:
            response = _http_session().request(
                method,
                url,
                params=params,
                json=payload,
                headers=headers,
            )
            if response.status_code == 401 and self._handle_unauthorized(response):
                # Once: the provider refreshed its credentials (e.g. a new session token).
                response = _http_session().request(
                    method,
                    url,
                    params=params,
                    json=payload,
                    headers=self._get_request_headers(idempotency_key),
                )
        except PlatformCallError as exc:  # the provider could not refresh its credentials
            error = exc
        except requests.Timeout as exc:
            error = PlatformCallError(_("Timeout calling %s %s", method, path), transient=True)
            error.__cause__ = exc
        except requests.RequestException as exc:
            error = PlatformCallError(
                _("Connection error calling %s %s: %s", method, path, exc.__class__.__name__), transient=True
            )
            error.__cause__ = exc
        duration_ms = int((time.monotonic() - started) * 1000)
        status = response.status_code if response is not None else None
        _logger.info(
            "AP Sync %s %s %s -> %s in %d ms", self.code, method, path, status or "no answer", duration_ms
        )
        message = False
        if error:
            message = str(error.args[0])
        elif not response.ok:
            message = scrub_text(response.text[:2000], self._secret_values()) or response.reason
        log_entry = dict(
            platform=self,
            direction="outbound",
            method=method,
            endpoint=path,
            event_type=event_type,
            event_id=idempotency_key,
            http_status=status,
            duration_ms=duration_ms,
            outcome=self.env["ap.sync.log"]._outcome_for_status(status),
            error=message,
            request_body=payload if (error or (response is not None and not response.ok)) else None,
            response_body=response.text if response is not None and not response.ok else None,
            **(log_values or {}),
        )
        if deferred_logs is not None:
            deferred_logs.append(log_entry)  # the caller writes a batch of entries at once
        else:
            self.env["ap.sync.log"]._log_call(**log_entry)
        if error:
            raise error
        return response

    def action_test_connection(self):
        """Call the platform once and tell the outcome in a notification."""
        self.ensure_one()
        self.check_access("write")
        if not self.base_url:
            raise UserError(_("Set the base URL of the platform first."))
        ok, message = self._test_connection()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Test connection: %s", self.name),
                "message": message,
                "type": "success" if ok else "danger",
                "sticky": not ok,
            },
        }

    def _test_connection(self):
        """Provider hook: ``(ok, readable message)`` of one harmless call to the platform."""
        self.ensure_one()
        try:
            response = self._call(
                "GET", "/invoices", params={"status": "approved", "limit": 1}, event_type="test_connection"
            )
        except PlatformCallError as exc:
            return False, exc.args[0]
        if response.ok:
            return True, _("Connection OK: HTTP %(status)s.", status=response.status_code)
        if response.status_code in (401, 403):
            return False, _(
                "The platform refused the API key (HTTP %(status)s).", status=response.status_code
            )
        return False, _(
            "The platform answered HTTP %(status)s: %(reason)s",
            status=response.status_code,
            reason=scrub_text(response.text[:300], self._secret_values()) or response.reason,
        )

    def action_open_rotate_secret(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Rotate webhook secret"),
            "res_model": "ap.platform.rotate.secret",
            "view_mode": "form",
            "target": "new",
            "context": {"default_platform_id": self.id},
        }

    def action_open_sync_log(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("account_ap_sync.action_ap_sync_log")
        action["domain"] = [("platform_id", "=", self.id)]
        return action
