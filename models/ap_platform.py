import collections
import logging
import os
import re
import threading
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..exceptions import EncryptionKeyInvalid, EncryptionKeyMissing, PlatformCallError
from ..utils import crypto
from ..utils.access import MANAGER_GROUP
from ..utils.redact import scrub_text
from .ap_sync_exception import OPEN_STATES

_logger = logging.getLogger(__name__)

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_MAX_PAYLOAD = 10 * 1024 * 1024
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
# Raised when a stored secret cannot be read (utils/crypto): no call can be made until an administrator
# acts; the calls wait this long (seconds) and are tried again, without counting an attempt.
CREDENTIAL_ERRORS = (EncryptionKeyMissing, EncryptionKeyInvalid)
CREDENTIALS_RETRY_AFTER = 15 * 60
# Answers of the platform are read up to this size (platform field max_response_size).
DEFAULT_MAX_RESPONSE = 5 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_CALLS = 4
MAX_REDIRECTS = 3
# Threads that carry the HTTP exchanges of _call_many (per Odoo process, shared by all platforms).
HTTP_POOL_THREADS = 16

_session_store = threading.local()
_executor_state = {"pool": None, "pid": None, "lock": threading.Lock()}
_lanes = {}


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


def _executor():
    """The process's HTTP thread pool (created after a fork, never shared with the parent)."""
    with _executor_state["lock"]:
        if _executor_state["pool"] is None or _executor_state["pid"] != os.getpid():
            _executor_state["pool"] = ThreadPoolExecutor(HTTP_POOL_THREADS, thread_name_prefix="ap_sync_http")
            _executor_state["pid"] = os.getpid()
        return _executor_state["pool"]


def _origin(url):
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _html_title(body):
    match = re.search(rb"<title[^>]*>(.{0,200}?)</title>", body[:65536] or b"", re.I | re.S)
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:120] if match else ""


def _read_limited(response, limit):
    """Read the body of a streamed response, at most ``limit`` bytes. Returns a failure or None."""
    length = response.headers.get("Content-Length") or ""
    if length.isdigit() and int(length) > limit:
        response._content = b""
        response.close()
        return ("too_large", limit)
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > limit:
                response._content = b""
                response.close()
                return ("too_large", limit)
            chunks.append(chunk)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        response._content = b"".join(chunks)
        response.close()
        return ("truncated", None)
    response._content = b"".join(chunks)
    # urllib3 1.x does not enforce Content-Length: a body cut short would pass for a whole one.
    read = getattr(response.raw, "tell", lambda: None)()
    if length.isdigit() and read is not None and read < int(length):
        return ("truncated", None)
    return None


def _send_request(request):
    """One HTTP exchange with the platform; plain ``requests``, never the Odoo environment.

    Runs in the calling thread or in a thread of the pool (see ``ApPlatform._call_many``). Redirects
    are followed by hand and only within the same origin (scheme, host, port), so that the
    Authorization header never reaches another host. Returns ``{"response", "failure", "duration_ms"}``.
    """
    started = time.monotonic()
    response = failure = None
    method, url, params = request["method"], request["url"], request["params"]
    origin = _origin(url)
    try:
        _session_store.timeouts = request["timeouts"]
        session = _http_session()
        for _hop in range(MAX_REDIRECTS + 1):
            response = session.request(
                method, url, params=params, json=request["payload"], headers=request["headers"],
                stream=True, allow_redirects=False,
            )  # fmt: skip
            if not response.is_redirect:
                failure = _read_limited(response, request["limit"])
                break
            target = urljoin(response.url, response.headers["Location"])
            response.close()
            response._content = b""
            if _origin(target) != origin:
                failure = ("redirect", urlsplit(target).netloc or target[:100])
                break
            if response.status_code not in (307, 308) and method not in ("GET", "HEAD"):
                failure = ("redirect_other", f"HTTP {response.status_code} on {method}")
                break
            url, params = target, None
        else:
            failure = ("redirect_other", f"more than {MAX_REDIRECTS}")
    except requests.Timeout:
        failure = ("timeout", None)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        failure = ("truncated", None)
    except Exception as exc:  # any other transport failure is a transient error, never a crash
        failure = ("connection", exc.__class__.__name__)
    return {"response": response, "failure": failure, "duration_ms": int((time.monotonic() - started) * 1000)}


class _Lane:
    """The calls in flight from this process to one platform: at most ``limit`` at once; the others
    wait their turn, first come first served, whichever ``_call_many`` (or cron run) sent them.

    Only the network exchange runs in the pool's threads (:func:`_send_request`, no ``env``)."""

    def __init__(self, limit):
        self.limit = max(1, limit)
        self.running = 0
        self.waiting = collections.deque()
        self.lock = threading.Lock()

    def submit(self, request):
        future = Future()
        with self.lock:
            start = self.running < self.limit
            if start:
                self.running += 1
            else:
                self.waiting.append((request, future))
        if start:
            self._start(request, future)
        return future

    def _start(self, request, future):
        _executor().submit(self._run, request, future)

    def _run(self, request, future):
        try:
            future.set_result(_send_request(request))
        except BaseException as exc:  # transport errors are caught inside; anything else reaches the caller
            future.set_exception(exc)
        finally:
            with self.lock:
                following = self.waiting.popleft() if self.waiting and self.running <= self.limit else None
                if following is None:
                    self.running -= 1
            if following is not None:
                self._start(*following)


def _lane(key, limit):
    """The lane of one platform (``key``) in this process, created after a fork, its limit kept current."""
    with _executor_state["lock"]:
        if _lanes.get("pid") != os.getpid():
            _lanes.clear()
            _lanes["pid"] = os.getpid()
        lane = _lanes.get(key)
        if lane is None:
            lane = _lanes[key] = _Lane(limit)
        else:
            lane.limit = max(1, limit)
        return lane


class PendingCalls:
    """Calls of :meth:`ApPlatform._call_many_start` on their way: :meth:`results` waits for them,
    then interprets and logs them in the calling thread (once; later calls return the same list)."""

    def __init__(self, platform, calls, results, prepared=(), futures=(), deferred_logs=None):
        self.platform, self.calls, self.deferred_logs = platform, calls, deferred_logs
        self._results, self._prepared, self._futures = results, list(prepared), list(futures)
        self._done = not self._prepared

    def done(self):
        """True when every answer is in (``results`` would not wait)."""
        return self._done or all(future.done() for future in self._futures)

    def results(self):
        if not self._done:
            self._done = True
            outcomes = [future.result() for future in self._futures]
            self.platform._finish_calls(
                self.calls, self._results, self._prepared, outcomes, self.deferred_logs
            )
        return self._results


class ApPlatform(models.Model):
    """An AP automation platform connected to one company."""

    _name = "ap.platform"
    _description = "AP Automation Platform"
    _inherit = ["mail.thread", "ap.sync.input.mixin"]
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
    max_concurrent_calls = fields.Integer(
        string="Max concurrent calls",
        default=DEFAULT_MAX_CONCURRENT_CALLS,
        required=True,
        help="How many calls to the platform's API may be in flight at once (approval checks, outbox "
        "deliveries), per Odoo worker. Stay within the platform's own limits: BILL allows 3 concurrent "
        "calls per organization, Rossum 10 requests per second.",
    )
    max_response_size = fields.Integer(
        string="Max Answer Size (bytes)",
        default=DEFAULT_MAX_RESPONSE,
        required=True,
        help="Answers of the platform are read up to this size; a larger answer is refused (not read) "
        "and the call counts as failed for good.",
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
    last_failure_message = fields.Text(compute="_compute_last_sync")

    _sql_constraints = [
        ("code_uniq", "unique(code)", "The platform code must be unique: it identifies the webhook URL."),
        (
            "max_payload_size_positive",
            "CHECK(max_payload_size > 0)",
            "The maximum payload size must be positive.",
        ),
        (
            "max_concurrent_calls_positive",
            "CHECK(max_concurrent_calls > 0)",
            "The number of concurrent calls must be positive.",
        ),
        (
            "max_response_size_positive",
            "CHECK(max_response_size > 0)",
            "The maximum answer size must be positive.",
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
                values.append(crypto.decrypt(row.token, self.env))
            except UserError:
                continue
        return values

    # ------------------------------------------------------------------ outbound HTTP
    def _get_url(self, path):
        """Absolute URL of an API ``path`` (a provider may route paths elsewhere). ``path`` is sent as
        it is: its segments are quoted where it is built (``utils.url.segment``)."""
        self.ensure_one()
        return self.base_url.rstrip("/") + path

    def _check_outbound_allowed(self, event_type=None):
        """Hook: raise a permanent PlatformCallError when this platform must not be called now."""

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

    def _get_call_headers(self, idempotency_key=None):
        """:meth:`_get_request_headers`, where a stored secret this database cannot decrypt (no key, or
        a key changed without re-encrypting) is the call's :class:`PlatformCallError` (see
        :meth:`_credentials_error`), so that its caller (outbox, pull, approval check) goes on with
        the other platforms instead of its cron run failing, on every run, on the same calls."""
        try:
            headers = self._get_request_headers(idempotency_key)
        except CREDENTIAL_ERRORS as exc:
            raise self._credentials_error(exc) from exc
        self._credentials_readable()
        return headers

    def _credentials_readable(self):
        """The platform's secrets could be read: resolve its open *Credentials unreadable* item, if
        any (the key was restored or the credentials entered again). Looked for once per cursor and
        platform, so a delivery batch costs one query, not one per call."""
        checked = self.env.cr.cache.setdefault("account_ap_sync.credentials_checked", set())
        if self.id in checked:
            return
        checked.add(self.id)
        items = self.env["ap.sync.exception"].sudo().search(
            [("exception_type", "=", "credentials_unreadable"), ("platform_id", "=", self.id),
             ("state", "in", OPEN_STATES)]
        )  # fmt: skip
        if items:
            _logger.info("AP Sync %s: the platform's credentials can be read again", self.code)
            items._resolve(
                _("The platform's credentials can be read again: calls to it resumed."),
                self.env.ref("base.user_root"),
            )

    def _credentials_error(self, exc):
        """The error of a call that could not be made because a secret cannot be read: it waits
        ``CREDENTIALS_RETRY_AFTER`` without using an attempt (``ignore_retry``), and one exception
        names the platform for its administrators (opened once per cursor, updated after)."""
        error = exc.args[0] if exc.args else exc.__class__.__name__
        reported = self.env.cr.cache.setdefault("account_ap_sync.credentials_reported", set())
        # Readable again later in this cursor: look for the item again (see _credentials_readable).
        self.env.cr.cache.get("account_ap_sync.credentials_checked", set()).discard(self.id)
        if self.id not in reported:
            reported.add(self.id)
            _logger.error("AP Sync %s: the platform's credentials cannot be read: %s", self.code, error)
            self.env["ap.sync.exception"]._raise_for(
                "credentials_unreadable",
                _(
                    "Nothing is sent to platform %(name)s and nothing is pulled from it: its stored "
                    "credentials cannot be read (%(error)s). Its messages wait and are tried again every "
                    "%(minutes)s minutes, without using their attempts. Restore the previous encryption key "
                    "(after the new one, comma-separated) or enter the credentials again.",
                    name=self.display_name,
                    error=error,
                    minutes=CREDENTIALS_RETRY_AFTER // 60,
                ),
                platform=self,
                document_ref=self.code,
            )
        return PlatformCallError(
            _(
                "The credentials of platform %(name)s cannot be read: %(error)s",
                name=self.display_name,
                error=error,
            ),
            retry_after=CREDENTIALS_RETRY_AFTER,
            ignore_retry=True,
        )

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
        raise_for_status=False,
        expect_json=False,
    ):
        """Call the platform's API once and leave one sync-log entry.

        Returns the ``requests.Response`` (body read, within ``max_response_size``) whatever its
        status, unless ``raise_for_status``: then any non-2xx answer raises too. Raises
        :class:`PlatformCallError`, which carries the retry decision (``transient``, ``retry_after``,
        ``status``, ``reason``), on timeouts, connection errors, truncated or oversized answers and
        redirects to another host; with ``expect_json``, also on a 2xx answer that is not JSON
        (``response.json()`` is then safe to call). See :meth:`_call_many` to send several at once.
        """
        call = {
            "method": method, "path": path, "params": params, "payload": payload,
            "idempotency_key": idempotency_key, "event_type": event_type, "log_values": log_values,
            "raise_for_status": raise_for_status, "expect_json": expect_json,
        }  # fmt: skip
        result = self._call_many([call], deferred_logs=deferred_logs)[0]
        if isinstance(result, PlatformCallError):
            raise result
        return result

    def _call_many(self, calls, deferred_logs=None):
        """Send several calls to this platform, at most ``max_concurrent_calls`` at a time.

        ``calls`` is a list of dicts of :meth:`_call`'s keyword arguments. Returns, in the same
        order, a ``requests.Response`` or the :class:`PlatformCallError` for each call (never
        raised here: one failure does not lose the other answers).

        Concurrency primitive: Odoo's environment and cursor are not thread-safe, so only the
        network exchange runs in a thread pool (plain ``requests``, no ``env`` access, see
        :func:`_send_request`). Everything else runs in the calling thread, in three phases:
        prepare (URL by :meth:`_get_url`, headers and credentials by :meth:`_get_request_headers`,
        timeouts and size limit), send (up to ``max_concurrent_calls`` requests in flight), then
        interpret and log (one sync-log entry per call, written here or appended to
        ``deferred_logs``). The limit holds per Odoo process and platform, across every caller: the
        calls of several groups (see :meth:`_call_many_start`) share it, first come first served.
        """
        return self._call_many_start(calls, deferred_logs=deferred_logs).results()

    def _call_many_start(self, calls, deferred_logs=None):
        """Prepare and send ``calls`` as :meth:`_call_many` does, without waiting for the answers.

        Returns a :class:`PendingCalls`: its ``results()`` waits, then interprets and logs the calls
        in the calling thread. So the calling thread (a cron run) can go on with local work, with its
        cursor, while the platform answers; it must call ``results()`` before it commits, so that every
        call made is logged in the transaction that made it."""
        self.ensure_one()
        results = [None] * len(calls)
        if not calls:
            return PendingCalls(self, calls, results)
        # Environment guard and shadow mode (ap_platform_governance): a refused call gets its error and
        # is not sent, nor logged; the others go out as usual.
        allowed = []
        for index, call in enumerate(calls):
            try:
                self._check_outbound_allowed(call.get("event_type"))
            except PlatformCallError as exc:
                results[index] = exc
            else:
                allowed.append(index)
        if not allowed:
            return PendingCalls(self, calls, results)
        if not self.base_url:
            error = PlatformCallError(_("Platform %s has no base URL.", self.display_name))
            for index in allowed:
                results[index] = error
            return PendingCalls(self, calls, results)
        timeouts = (self.timeout_connect or CONNECT_TIMEOUT, self.timeout_read or READ_TIMEOUT)
        deadline = self.env.context.get("ap_sync_deadline")
        if deadline:
            # A cron run never waits past its own budget: the read timeout shrinks to what is left.
            left = deadline - time.monotonic()
            timeouts = (min(timeouts[0], max(left, 1)), min(timeouts[1], max(left, 1)))
        limit = self.max_response_size or DEFAULT_MAX_RESPONSE
        prepared = []  # (index in calls, request)
        for position, index in enumerate(allowed):
            call = calls[index]
            try:
                headers = self._get_call_headers(call.get("idempotency_key"))
            except PlatformCallError as exc:  # no credentials: login refused, or a secret that cannot be read
                results[index] = exc
                if exc.ignore_retry:  # the secrets cannot be read: neither can the next call's
                    for rest in allowed[position + 1 :]:
                        results[rest] = exc
                    break
                continue
            prepared.append((index, {
                "method": call["method"], "url": self._get_url(call["path"]), "params": call.get("params"),
                "payload": call.get("payload"), "headers": headers, "timeouts": timeouts, "limit": limit,
            }))  # fmt: skip
        futures = self._submit_prepared([request for _index, request in prepared])
        return PendingCalls(self, calls, results, prepared, futures, deferred_logs)

    def _finish_calls(self, calls, results, prepared, outcomes, deferred_logs=None):
        """Second half of :meth:`_call_many`, in the calling thread: a 401 may refresh the
        credentials once for the whole batch; then each answer is interpreted and logged."""
        # A 401: the provider may refresh its credentials once for the whole batch (a new token or
        # session, see _handle_unauthorized); then the refused calls go out again with fresh headers.
        unauthorized = [
            k for k, outcome in enumerate(outcomes)
            if outcome["response"] is not None and outcome["response"].status_code == 401
        ]  # fmt: skip
        refresh_error = None
        if unauthorized:
            try:
                refreshed = self._handle_unauthorized(outcomes[unauthorized[0]]["response"])
                for k in unauthorized:
                    index, request = prepared[k]
                    request["headers"] = self._get_request_headers(calls[index].get("idempotency_key"))
            except PlatformCallError as exc:  # the provider could not refresh its credentials
                refreshed, refresh_error = False, exc
            except CREDENTIAL_ERRORS as exc:  # a secret cannot be read (see _get_call_headers)
                refreshed, refresh_error = False, self._credentials_error(exc)
            if refreshed:
                again = self._send_prepared([prepared[k][1] for k in unauthorized])
                for k, outcome in zip(unauthorized, again):
                    outcomes[k] = outcome
        logs = []
        for k, ((index, _request), outcome) in enumerate(zip(prepared, outcomes)):
            result, log_entry = self._interpret(calls[index], outcome)
            if refresh_error is not None and k in unauthorized:
                result = refresh_error
            results[index] = result
            logs.append(log_entry)
        if deferred_logs is not None:
            deferred_logs.extend(logs)  # the caller writes a batch of entries at once
        else:
            self.env["ap.sync.log"]._log_calls(logs)
        return results

    def _submit_prepared(self, prepared):
        """Hand prepared requests to this platform's lane (at most ``max_concurrent_calls`` in flight
        per process); returns their futures, in order. No ``env`` access happens in the lane."""
        if not prepared:
            return []
        lane = _lane((self.env.cr.dbname, self.id), self.max_concurrent_calls or 1)
        return [lane.submit(request) for request in prepared]

    def _send_prepared(self, prepared):
        """Send prepared requests, at most ``max_concurrent_calls`` at a time (no ``env`` access)."""
        return [future.result() for future in self._submit_prepared(prepared)]

    def _interpret(self, call, outcome):
        """The result of one sent call (a response or a :class:`PlatformCallError`) and its log entry."""
        method, path = call["method"], call["path"]
        response, failure, duration_ms = outcome["response"], outcome["failure"], outcome["duration_ms"]
        error = self._failure_error(method, path, failure, response) if failure else None
        if error is None and response is not None:
            error = self._classify_response(
                method, path, response, call.get("raise_for_status"), call.get("expect_json")
            )
        status = response.status_code if response is not None else None
        _logger.info(
            "AP Sync %s %s %s -> %s in %d ms%s", self.code, method, path, status or "no answer", duration_ms,
            f" ({error.reason})" if error else "",
        )  # fmt: skip
        failed = bool(error) or (response is not None and not response.ok)
        message = False
        if error:
            message = str(error.reason)
        elif failed:
            message = scrub_text(response.text[:2000], self._secret_values()) or response.reason
        outcome_value = self.env["ap.sync.log"]._outcome_for_status(status)
        if error and outcome_value == "success":
            outcome_value = "error" if error.transient else "rejected"
        log_entry = dict(
            platform=self,
            direction="outbound",
            method=method,
            endpoint=path,
            event_type=call.get("event_type"),
            event_id=call.get("idempotency_key"),
            http_status=status,
            duration_ms=duration_ms,
            outcome=outcome_value,
            error=message,
            request_body=call.get("payload") if failed else None,
            response_body=response.content if response is not None and failed and response.content else None,
            **(call.get("log_values") or {}),
        )
        return (error or response), log_entry

    def _failure_error(self, method, path, failure, response):
        """The retry decision for a call that did not bring a usable answer back."""
        kind, detail = failure
        status = response.status_code if response is not None else None
        if kind == "timeout":
            return PlatformCallError(
                _("Timeout calling %(method)s %(path)s", method=method, path=path), transient=True
            )
        if kind == "connection":
            return PlatformCallError(
                _("Connection error calling %(method)s %(path)s: %(error)s", method=method, path=path, error=detail),
                transient=True,
            )  # fmt: skip
        if kind == "truncated":
            return PlatformCallError(
                _("The platform's answer to %(method)s %(path)s was cut short (HTTP %(status)s): try again later.",
                  method=method, path=path, status=status),
                status=status, transient=True,
            )  # fmt: skip
        if kind == "too_large":
            return PlatformCallError(
                _("The platform's answer to %(method)s %(path)s is larger than %(limit)s bytes: not read.",
                  method=method, path=path, limit=detail),
                status=status, transient=False,
            )  # fmt: skip
        if kind == "redirect":
            return PlatformCallError(
                _("The platform redirected %(method)s %(path)s to another host (%(target)s): not followed, "
                  "so that the credentials never leave for it. Check the base URL.",
                  method=method, path=path, target=detail),
                status=status, transient=False,
            )  # fmt: skip
        return PlatformCallError(
            _("The platform answered %(method)s %(path)s with a redirect that is not followed (%(detail)s).",
              method=method, path=path, detail=detail),
            status=status, transient=False,
        )  # fmt: skip

    def _classify_response(self, method, path, response, raise_for_status=False, expect_json=False):
        """A :class:`PlatformCallError` for an answer the caller cannot use, else None."""
        status = response.status_code
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        body = response.content or b""
        html = content_type == "text/html" or body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))
        # No f-string inside _(): Babel's extractor evaluates the arguments and gives up on the file.
        html_title = _html_title(body) if html else ""
        title = " (%s)" % html_title if html_title else ""
        if not 200 <= status < 300:
            if not raise_for_status:
                return None
            if html:
                detail = _("an HTML error page%(title)s", title=title)
            else:
                detail = scrub_text(response.text[:300], self._secret_values()) or response.reason or ""
            return PlatformCallError.from_response(
                _("The platform answered HTTP %(status)s to %(method)s %(path)s: %(detail)s",
                  status=status, method=method, path=path, detail=detail),
                response,
            )  # fmt: skip
        if not expect_json:
            return None
        if html:
            return PlatformCallError(
                _("The platform answered HTTP %(status)s to %(method)s %(path)s with an HTML page%(title)s "
                  "instead of JSON: is the base URL right, or is a proxy in the way?",
                  status=status, method=method, path=path,
                  title=title),
                status=status, transient=False,
            )  # fmt: skip
        try:
            response.json()
        except RecursionError:
            # Nested deeper than the parser goes (the input rules allow 64 levels): never readable.
            return PlatformCallError(
                _("The platform answered HTTP %(status)s to %(method)s %(path)s with JSON nested too deep "
                  "to read.", status=status, method=method, path=path),
                status=status, transient=False,
            )  # fmt: skip
        except ValueError:
            # Announced as JSON but unreadable: most likely cut short on the way, worth another try.
            json_announced = content_type.endswith("json")
            return PlatformCallError(
                _("The platform answered HTTP %(status)s to %(method)s %(path)s with a body that is not "
                  "JSON (%(type)s, %(size)s bytes).",
                  status=status, method=method, path=path, type=content_type or "-", size=len(body)),
                status=status, transient=json_announced,
            )  # fmt: skip
        return None

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
