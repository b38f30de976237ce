#!/usr/bin/env python3
"""A fake BILL (bill.com) v3 API, built from BILL's documented examples, for tests and the demo.

It speaks the parts of the BILL v3 API that ``account_ap_sync``'s ``bill`` provider uses, with the
documented shapes, error bodies and limits. Every builder and route names the page of the BILL
developer documentation (developer.bill.com) whose example it follows:

* ``POST /v3/login`` (username, password, organizationId, devKey -> sessionId): "API login"
  (https://developer.bill.com/reference/login) and "BILL keys and tokens"
  (https://developer.bill.com/docs/bill-keys-tokens). Every other call needs the ``devKey`` and
  ``sessionId`` headers. A session expires after 35 idle minutes (configurable, or forced with
  ``expire_sessions``/``expire_after``): the call then gets 401 ``BDC_1109`` "Session is invalid.
  Please log in." ("Common API error codes", https://developer.bill.com/docs/common-api-error-codes).
* Limits ("API rate limits", https://developer.bill.com/docs/api-rate-limits): 3 concurrent calls per
  organization (``BDC_1322``), 20,000 calls per devKey per hour (``BDC_1144``), 200 logins per hour. The
  documentation names the codes, not the HTTP status: this fake answers them with 429.
* ``GET /v3/bills`` with ``filters=updatedTime:gte:"..."``, ``sort``, ``max`` (default 20, up to 100) and
  ``page`` ("Search operations with lists", https://developer.bill.com/docs/search-op-with-lists; "Get
  list of bills", https://developer.bill.com/reference/listbills): ``{"results": [...], "nextPage": ...}``.
* ``GET /v3/bills/{billId}``: the bill with its ``approvalStatus`` and ``approvers`` ("Bill approvals",
  https://developer.bill.com/docs/ap-bill-approvals; sample in the changelog "New in the BILL v3 API |
  Bill Approvals", https://developer.bill.com/changelog/2025-09-22-new-in-v3-bill-approvals).
* ``GET /v3/bill-approvals/pending-user-approvals`` and ``POST /v3/bill-approvals/actions`` ("New v3 API
  endpoints for bill approvals", https://developer.bill.com/changelog/2025-11-05-new-endpoints-bill-approvals).
* ``POST /v3/bills/record-payment`` (vendorId, processDate, toPrintCheck, payments[{billId, amount}]): a
  payment made outside BILL ("Record AP payments", https://developer.bill.com/docs/record-ap-payments).
  An amount above what the bill still owes is refused, as BILL refuses to pay more than is due.
* ``GET /v3/payments/{paymentId}``; ``GET``/``PATCH /v3/vendors/{vendorId}``.
* ``POST /v3/subscriptions`` (on the ``/connect-events`` base, ``X-Idempotent-Key`` required, a UUID4):
  answers the one-time ``securityKey`` ("Webhook API general rules",
  https://developer.bill.com/docs/bill-webhook-api-general-rules; "Test with BILL webhook security",
  https://developer.bill.com/docs/test-with-webhook-security).
* Webhooks sent to Odoo (``send_event``): ``{"metadata": {eventId, subscriptionId, organizationId, eventType,
  version}, "<object>": {...}}`` ("AP bill notification payloads",
  https://developer.bill.com/docs/bill-webhook-notification-payloads; "Payment notification payloads",
  https://developer.bill.com/docs/payment-webhook-notification-payloads; "Vendor notification payloads",
  https://developer.bill.com/docs/vendor-webhook-notification-payloads), signed with
  ``x-bill-sha-signature``: base64 of the HMAC-SHA256 of the raw body keyed with the ``securityKey``.

Money is a JSON number in BILL (``"amount": 228.99``). This fake keeps amounts as ``Decimal`` and writes
them as JSON numbers with their exact digits (``dumps``), so a client that reads them through float
would be caught by the tests.

Paths are served with or without the ``/connect`` (API) and ``/connect-events`` (webhooks API) prefixes
of the real base URLs. It depends on the standard library and ``requests`` only, and never imports Odoo.
"""

import base64
import copy
import hashlib
import hmac
import json
import re
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from fake_http import JsonHandler, ThreadingServer, serve_in_thread

__all__ = [
    "BillServer",
    "bill_signature",
    "dumps",
    "make_bill",
    "make_bill_event",
    "make_payment",
    "make_vendor",
]

SESSION_IDLE_SECONDS = 35 * 60
MAX_CONCURRENT = 3
CALLS_PER_HOUR = 20000
LOGINS_PER_HOUR = 200
DEFAULT_MAX = 20
LARGEST_MAX = 100
APPROVED = "APPROVED"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)
FILTER = re.compile(r'(\w+):(eq|ne|gt|gte|lt|lte|in|nin|sw):("([^"]*)"|[^,]*)')


# ----------------------------------------------------------------------------------------------------------
# JSON with exact numbers
# ----------------------------------------------------------------------------------------------------------


def dumps(value) -> str:
    """JSON text of ``value`` where a ``Decimal`` is written as a JSON number with its exact digits."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def loads(text):
    """Parse BILL JSON keeping numbers exact (``Decimal``)."""
    return json.loads(text, parse_float=Decimal)


def _money(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return amount


def now_bill() -> str:
    """BILL's timestamp format, ``yyyy-MM-dd'T'HH:mm:ss.SSSX`` (e.g. ``2026-12-15T23:15:23.127+00:00``)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+00:00"


def _parse_time(value) -> datetime:
    text = str(value).strip().strip('"').replace("Z", "+00:00")
    if "T" in text and " " in text:
        text = text.replace(" ", "+")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _error(code, message, category="DOWNSTREAM"):
    """BILL v3 error body: a list of {timestamp, code, severity, category, message} ("Common API error codes")."""
    return [
        {"timestamp": now_bill(), "code": code, "severity": "ERROR", "category": category, "message": message}
    ]


def bill_signature(security_key, raw: bytes) -> str:
    """``x-bill-sha-signature``: base64 of HMAC-SHA256(securityKey, raw body) ("Test with BILL webhook security")."""
    key = security_key.encode() if isinstance(security_key, str) else security_key
    return base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode()


# ----------------------------------------------------------------------------------------------------------
# Documented objects
# ----------------------------------------------------------------------------------------------------------


def make_bill(
    bill_id="00n02JZNIEYMNPY99iz9",
    vendor_id="00902BILKFECNEV2oji1",
    invoice_number="202601",
    lines=None,
    approval_status=APPROVED,
    invoice_date="2026-12-15",
    due_date="2026-12-31",
    **extra,
) -> dict:
    """A BILL v3 bill, as in the "Sample bill.created payload" of "AP bill notification payloads"
    (https://developer.bill.com/docs/bill-webhook-notification-payloads) with the ``billLineItems``,
    ``approvalStatus`` and ``approvers`` of the sample in "New in the BILL v3 API | Bill Approvals"
    (https://developer.bill.com/changelog/2025-09-22-new-in-v3-bill-approvals).

    ``lines`` is a list of dicts with ``amount`` (a Decimal or a decimal string) and optionally
    ``description``, ``quantity``, ``price``, ``chartOfAccountId``; the bill ``amount`` is their exact sum.
    The default is the documented 228.99 in one line.
    """
    stamp = now_bill()
    lines = [{"amount": "228.99", "description": "Happy Music Supplies Dec Bill"}] if lines is None else lines
    items = []
    for index, line in enumerate(lines, start=1):
        item = {"id": line.get("id") or f"{bill_id}-L{index}", "amount": _money(line["amount"])}
        for key in ("description", "quantity", "price"):
            if key in line:
                item[key] = _money(line[key]) if key in ("quantity", "price") else line[key]
        if line.get("chartOfAccountId"):
            item["classifications"] = {"chartOfAccountId": line["chartOfAccountId"]}
        items.append(item)
    amount = sum((item["amount"] for item in items), Decimal(0))
    bill = {
        "id": bill_id,
        "vendorId": vendor_id,
        "vendorName": "Happy Music Supplies",
        "invoice": {"invoiceNumber": invoice_number, "invoiceDate": f"{invoice_date}T00:00:00.000Z"},
        "amount": amount,
        "dueAmount": amount,
        "dueDate": due_date,
        "billCurrency": "USD",
        "createdTime": stamp,
        "updatedTime": stamp,
        "createdBy": "00602NNWYXSZQYLTa41g",
        "archived": False,
        "description": "Happy Music Supplies Dec Bill",
        "paymentStatus": "UNPAID",
        "approvalStatus": approval_status,
        "billLineItems": items,
        "approvers": [
            {
                "userId": "00602APPROVER0001",
                "status": "APPROVED" if approval_status == APPROVED else "WAITING",
                "approverOrder": 0,
                "statusChangedTime": stamp,
            }
        ],
    }
    bill.update(copy.deepcopy(extra))
    return bill


def make_vendor(vendor_id="00902BILKFECNEV2oji1", name="Happy Music Supplies", tax_id="12-3456789", **extra):
    """A BILL v3 vendor, as in "Vendor notification payloads"
    (https://developer.bill.com/docs/vendor-webhook-notification-payloads): id, name, email, taxId, address."""
    vendor = {
        "id": vendor_id,
        "name": name,
        "archived": False,
        "email": "ap@happymusic.example",
        "phone": "+1 650 555 0100",
        "taxId": tax_id,
        "taxIdType": "EIN",
        "address": {
            "line1": "123 Main Street",
            "city": "San Jose",
            "stateOrProvince": "CA",
            "zipOrPostalCode": "95002",
            "country": "US",
        },
        "createdTime": now_bill(),
        "updatedTime": now_bill(),
    }
    vendor.update(copy.deepcopy(extra))
    return vendor


def make_payment(payment_id=None, bill_id="00n02JZNIEYMNPY99iz9", amount="228.99", status="PAID", **extra):
    """A BILL v3 payment, as in the "Sample payment.updated payloads" of "Payment notification payloads"
    (https://developer.bill.com/docs/payment-webhook-notification-payloads): id (stp...), billIds,
    transactionNumber, status, createdBy, createdTime, updatedTime, processDate, funding, disbursement;
    with ``amount`` and ``billPayments`` of "Payments" (https://developer.bill.com/docs/ap-payments)."""
    payment_id = payment_id or f"stp02{uuid.uuid4().hex[:15]}"
    amount = _money(amount)
    payment = {
        "id": payment_id,
        "billIds": [bill_id],
        "billPayments": [{"id": f"blp{payment_id[3:]}", "billId": bill_id, "amount": amount}],
        "amount": amount,
        "transactionNumber": f"TX-{payment_id[-8:]}",
        "status": status,
        "singleStatus": status,
        "createdBy": "00602NNWYXSZQYLTa41g",
        "createdTime": now_bill(),
        "updatedTime": now_bill(),
        "processDate": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "funding": {
            "id": "bac02FUNDING0001",
            "type": "BANK_ACCOUNT",
            "name": "Operating",
            "accountNumber": "****6789",
        },
        "disbursement": {"type": "ACH"},
    }
    payment.update(copy.deepcopy(extra))
    return payment


def make_bill_event(
    event_type, obj, event_id=None, organization_id="00802DEVKGROHKDIY4zyx", subscription_id=None
):
    """The notification body: ``metadata`` then the object under its name (``bill``, ``vendor``,
    ``payment``), as in every sample of "Notification payloads reference"
    (https://developer.bill.com/docs/notification-payloads-reference)."""
    return {
        "metadata": {
            "eventId": event_id or str(uuid.uuid4()),
            "subscriptionId": subscription_id or "f6d06930-e3e2-4509-be37-4dbda29efc6i",
            "organizationId": organization_id,
            "eventType": event_type,
            "version": "1",
        },
        event_type.split(".", 1)[0]: copy.deepcopy(obj),
    }


# ----------------------------------------------------------------------------------------------------------
# HTTP server
# ----------------------------------------------------------------------------------------------------------


class _Handler(JsonHandler):
    server_version = "FakeBill/3"

    def log_message(self, fmt, *args):
        if self.server.owner.verbose:
            sys.stderr.write(f"[fake-bill] {fmt % args}\n")

    def _send(self, status, payload, headers=None):
        self.send_json(status, payload, headers, body=dumps(payload).encode())  # amounts keep their digits

    def do_GET(self):
        owner = self.server.owner
        entry = {}
        try:
            split = urlsplit(self.path)
            path = re.sub(r"^/connect(-events)?(?=/)", "", split.path) or "/"
            query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = {
                "method": self.command,
                "path": path,
                "query": query,
                "headers": {
                    k: ("***" if k.lower() in ("sessionid", "devkey") else v) for k, v in self.headers.items()
                },
                "session_id": self.headers.get("sessionId"),
                "json": None,
                "status": None,
                "time": time.time(),
            }
            try:
                entry["json"] = loads(raw) if raw else None
            except ValueError:
                entry["json"] = ValueError
            owner._log(entry)
            status, payload, headers = owner._handle(self.command, path, query, self.headers, entry["json"])
        except Exception:
            traceback.print_exc()
            status, payload, headers = 500, _error("BDC_1001", "System error occurred."), None
        entry["status"] = status
        self._send(status, payload, headers)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET


class BillServer:
    """In-memory BILL organization serving the v3 API on 127.0.0.1 (``port=0``: a free port).

    State, guarded by ``lock``: ``bills``, ``vendors``, ``payments`` (id -> payment), ``recorded_payments``
    (every accepted record-payment request), ``vendor_updates`` (every PATCH body), ``subscriptions``,
    ``requests_log`` (method, path, query, headers with credentials hidden, json, status), ``logins``
    (timestamps of successful logins), ``peak_concurrency`` and ``events_sent``.
    ``latency`` (seconds) delays every API call, to exercise concurrency; ``fail_next`` programs answers.
    """

    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        *,
        username="ap.integration@buyer.example",
        password="S3cret-pass!",
        organization_id="00802DEVKGROHKDIY4zyx",
        dev_key="01HXDEVKEY0000000000000000",
        security_key="sec_key_6f1d2b7c9e4a",
        max_concurrent=MAX_CONCURRENT,
        session_idle_seconds=SESSION_IDLE_SECONDS,
        logins_per_hour=LOGINS_PER_HOUR,
        calls_per_hour=CALLS_PER_HOUR,
        latency=0.0,
        verbose=False,
    ):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.organization_id, self.dev_key, self.security_key = organization_id, dev_key, security_key
        self.max_concurrent = max_concurrent
        self.session_idle_seconds = session_idle_seconds
        self.logins_per_hour, self.calls_per_hour = logins_per_hour, calls_per_hour
        self.latency, self.verbose = latency, verbose
        self.lock = threading.RLock()
        self._httpd = self._thread = None
        self.clear()

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def url(self):
        """The API base, like ``https://gateway.stage.bill.com/connect``: paths are ``/v3/...`` below it."""
        return f"http://{self.host}:{self.port}/connect"

    @property
    def root_url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        self._httpd = ThreadingServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = serve_in_thread(self._httpd, f"fake-bill-{self.port}")
        return self

    def stop(self):
        httpd, self._httpd = self._httpd, None
        if httpd:
            httpd.shutdown()
            httpd.server_close()
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc):
        self.stop()

    def clear(self):
        """Forget everything: objects, sessions, logs, faults."""
        with self.lock:
            self.bills, self.vendors, self.payments, self.subscriptions = {}, {}, {}, {}
            self.recorded_payments, self.vendor_updates, self.requests_log, self.events_sent = [], [], [], []
            self.sessions, self.logins, self.calls = {}, [], []
            self.in_flight = self.peak_concurrency = 0
            self._faults, self._idempotent = [], {}
            self._expire_after = None

    # -- state helpers for tests -----------------------------------------------------------------------

    def add_bill(self, bill):
        with self.lock:
            self.bills[bill["id"]] = copy.deepcopy(bill)
        return bill

    def add_vendor(self, vendor):
        with self.lock:
            self.vendors[vendor["id"]] = copy.deepcopy(vendor)
        return vendor

    def touch(self, bill_id, **changes):
        """Change a bill the way a BILL user would: the changes, and a new ``updatedTime``."""
        with self.lock:
            bill = self.bills[bill_id]
            bill.update(copy.deepcopy(changes))
            bill["updatedTime"] = now_bill()
            return copy.deepcopy(bill)

    def approve_bill(self, bill_id):
        """Every approver approves: ``approvalStatus`` APPROVED. BILL sends no event for it."""
        with self.lock:
            bill = self.bills[bill_id]
            for approver in bill.get("approvers") or []:
                approver["status"], approver["statusChangedTime"] = "APPROVED", now_bill()
            return self.touch(bill_id, approvalStatus=APPROVED)

    def pay_bill(self, bill_id, amount=None, status="PAID"):
        """BILL pays the bill (``POST /v3/payments`` by a BILL user): returns the payment object."""
        with self.lock:
            bill = self.bills[bill_id]
            amount = _money(bill["dueAmount"] if amount is None else amount)
            if amount > bill["dueAmount"]:
                raise ValueError(f"BILL refuses to pay {amount}: only {bill['dueAmount']} is due")
            payment = make_payment(bill_id=bill_id, amount=amount, status=status, vendorId=bill["vendorId"])
            self.payments[payment["id"]] = payment
            if status == "PAID":
                self._apply_payment(bill, amount)
            return copy.deepcopy(payment)

    def expire_sessions(self):
        """Every open session expires now (as after 35 idle minutes)."""
        with self.lock:
            for session in self.sessions.values():
                session["expired"] = True

    def expire_after(self, calls):
        """The current sessions expire after ``calls`` more authenticated calls (an expiry mid-run)."""
        with self.lock:
            self._expire_after = calls

    def fail_next(self, count=1, status=429, body=None, path_prefix=None, headers=None):
        """Answer the next ``count`` calls (whose path starts with ``path_prefix``) with ``status``/``body``."""
        with self.lock:
            self._faults.append({"count": count, "status": status, "body": body, "prefix": path_prefix,
                                 "headers": headers or {}})  # fmt: skip

    def calls_to(self, method, prefix):
        with self.lock:
            return [r for r in self.requests_log if r["method"] == method and r["path"].startswith(prefix)]

    # -- webhooks --------------------------------------------------------------------------------------

    def send_event(self, odoo_url, platform_code, event_type, obj, event_id=None, security_key=None,
                   body=None, signature=None, extra_headers=None, timeout=30):  # fmt: skip
        """POST a notification to Odoo, signed with ``x-bill-sha-signature`` over the exact bytes sent.

        ``body`` (bytes) replaces the serialized notification; ``signature`` replaces the computed one
        (None: computed; False: header left out)."""
        raw = (
            body
            if body is not None
            else dumps(make_bill_event(event_type, obj, event_id, self.organization_id)).encode()
        )
        headers = {"Content-Type": "application/json"}
        if signature is None:
            signature = bill_signature(security_key or self.security_key, raw)
        if signature is not False:
            headers["x-bill-sha-signature"] = signature
        headers.update(extra_headers or {})
        response = requests.post(f"{odoo_url.rstrip('/')}/ap_sync/webhook/{platform_code}", data=raw,
                                 headers=headers, timeout=timeout)  # fmt: skip
        with self.lock:
            self.events_sent.append({"type": event_type, "status": response.status_code, "body": raw})
        return response

    # -- request handling ------------------------------------------------------------------------------

    def _log(self, entry):
        with self.lock:
            self.requests_log.append(entry)

    def _take_fault(self, path):
        with self.lock:
            for fault in self._faults:
                if fault["prefix"] is None or path.startswith(fault["prefix"]):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(self, method, path, query, headers, body):
        fault = self._take_fault(path)
        if fault:
            return (
                fault["status"],
                fault["body"]
                or _error("BDC_1322", "Max number of concurrent requests per organization reached."),
                fault["headers"],
            )
        if body is ValueError:
            return 400, _error("BDC_1002", "Request body is not valid JSON.", "REQUEST"), None
        if (method, path) == ("POST", "/v3/login"):
            return self._login(body or {})
        problem = self._authenticate(headers)
        if problem:
            return problem
        with self.lock:
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)
            too_many = self.in_flight > self.max_concurrent
            hour = [t for t in self.calls if t > time.time() - 3600]
            self.calls = hour + [time.time()]
            over_hour = len(self.calls) > self.calls_per_hour
        try:
            if self.latency:
                time.sleep(self.latency)
            if too_many:
                return (
                    429,
                    _error("BDC_1322", "Max number of concurrent requests per organization reached."),
                    None,
                )
            if over_hour:
                return (
                    429,
                    _error(
                        "BDC_1144", f"Max number of allowed requests per hour reached: {self.calls_per_hour}."
                    ),
                    None,
                )
            return self._route(method, path, query, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _login(self, body):
        with self.lock:
            recent = [t for t in self.logins if t > time.time() - 3600]
            if len(recent) >= self.logins_per_hour:
                return (
                    429,
                    _error(
                        "BDC_1144",
                        f"Max number of allowed login requests per hour reached: {self.logins_per_hour}.",
                    ),
                    None,
                )
            if body.get("devKey") != self.dev_key:
                return 401, _error("BDC_1102", "Developer key is invalid."), None
            if body.get("username") != self.username or body.get("password") != self.password:
                return 401, _error("BDC_1101", "User name and/or password do not match our records."), None
            if body.get("organizationId") != self.organization_id:
                return 401, _error("BDC_1103", "Organization ID is invalid."), None
            session_id = f"!{uuid.uuid4().hex}"
            self.sessions[session_id] = {"last": time.time(), "expired": False}
            self.logins.append(time.time())
            self._expire_after = None
        return 200, {"sessionId": session_id, "organizationId": self.organization_id,
                     "userId": "00602NNWYXSZQYLTa41g", "trusted": False}, None  # fmt: skip

    def _authenticate(self, headers):
        with self.lock:
            if headers.get("devKey") != self.dev_key:
                return 401, _error("BDC_1102", "Developer key is invalid."), None
            session = self.sessions.get(headers.get("sessionId") or "")
            if self._expire_after is not None:
                if self._expire_after <= 0:
                    for other in self.sessions.values():
                        other["expired"] = True
                    self._expire_after = None
                else:
                    self._expire_after -= 1
            if not session or session["expired"] or time.time() - session["last"] > self.session_idle_seconds:
                if session:
                    session["expired"] = True
                return 401, _error("BDC_1109", "Session is invalid.  Please log in."), None
            session["last"] = time.time()  # any call resets the 35 minutes
        return None

    def _route(self, method, path, query, headers, body):
        parts = [unquote(p) for p in path.strip("/").split("/")]
        with self.lock:
            if method == "GET" and parts == ["v3", "bills"]:
                return self._list_bills(query)
            if method == "POST" and parts == ["v3", "bills", "record-payment"]:
                return self._record_payment(body, headers.get("X-Idempotent-Key"))
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v3", "bills"]:
                bill = self.bills.get(parts[2])
                return (
                    (200, copy.deepcopy(bill), None)
                    if bill
                    else (404, _error("BDC_1000", "Bill not found."), None)
                )
            if method == "GET" and parts == ["v3", "bill-approvals", "pending-user-approvals"]:
                pending = [
                    b for b in self.bills.values() if b.get("approvalStatus") not in (APPROVED, "DENIED")
                ]
                return 200, {"results": copy.deepcopy(pending)}, None
            if method == "POST" and parts == ["v3", "bill-approvals", "actions"]:
                return self._approval_actions(body)
            if len(parts) == 3 and parts[:2] == ["v3", "payments"] and method == "GET":
                payment = self.payments.get(parts[2])
                return (
                    (200, copy.deepcopy(payment), None)
                    if payment
                    else (404, _error("BDC_1000", "Payment not found."), None)
                )
            if len(parts) == 3 and parts[:2] == ["v3", "vendors"]:
                vendor = self.vendors.get(parts[2])
                if not vendor:
                    return 404, _error("BDC_1000", "Vendor not found."), None
                if method == "GET":
                    return 200, copy.deepcopy(vendor), None
                if method == "PATCH":
                    if not isinstance(body, dict):
                        return 400, _error("BDC_1002", "Request body must be an object.", "REQUEST"), None
                    self.vendor_updates.append({"vendorId": parts[2], "body": copy.deepcopy(body)})
                    vendor.update(copy.deepcopy(body))
                    vendor["updatedTime"] = now_bill()
                    return 200, copy.deepcopy(vendor), None
            if method == "POST" and parts == ["v3", "subscriptions"]:
                return self._subscribe(body, headers.get("X-Idempotent-Key"))
        return 404, _error("BDC_1121", "API not supported."), None

    def _list_bills(self, query):
        try:
            size = min(int(query.get("max") or DEFAULT_MAX), LARGEST_MAX)
            offset = int(base64.urlsafe_b64decode(query["page"] + "==").decode()) if query.get("page") else 0
        except (ValueError, KeyError) as exc:
            return 400, _error("BDC_1002", f"Invalid pagination: {exc}", "REQUEST"), None
        bills = list(self.bills.values())
        for field, op, raw, quoted in FILTER.findall(query.get("filters") or ""):
            value = quoted if raw.startswith('"') else raw
            bills = [b for b in bills if self._matches(b, field, op, value)]
        sort_field, _sep, order = (query.get("sort") or "updatedTime:asc").partition(":")
        bills.sort(key=lambda b: (str(b.get(sort_field) or ""), b["id"]), reverse=order == "desc")
        page = bills[offset : offset + size]
        answer = {"results": copy.deepcopy(page)}
        if offset + size < len(bills):
            answer["nextPage"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode().rstrip("=")
        if offset:
            answer["prevPage"] = (
                base64.urlsafe_b64encode(str(max(0, offset - size)).encode()).decode().rstrip("=")
            )
        return 200, answer, None

    @staticmethod
    def _matches(bill, field, op, value):
        current = bill.get(field)
        if field in ("updatedTime", "createdTime"):
            left, right = _parse_time(current), _parse_time(value)
        elif isinstance(current, bool):
            left, right = str(current).lower(), value.lower()
        else:
            left, right = str(current), value
        if op in ("in", "nin"):
            found = left in value.split(",")
            return found if op == "in" else not found
        return {"eq": left == right, "ne": left != right, "gt": left > right, "gte": left >= right,
                "lt": left < right, "lte": left <= right, "sw": str(left).startswith(value)}[op]  # fmt: skip

    def _apply_payment(self, bill, amount):
        bill["dueAmount"] = bill["dueAmount"] - amount
        bill["paymentStatus"] = "PAID" if bill["dueAmount"] <= 0 else "PARTIAL"
        bill["updatedTime"] = now_bill()

    def _record_payment(self, body, idempotent_key):
        if idempotent_key and idempotent_key in self._idempotent:
            return self._idempotent[idempotent_key]
        if (
            not isinstance(body, dict)
            or not body.get("vendorId")
            or not body.get("processDate")
            or "toPrintCheck" not in body
            or not body.get("payments")
        ):
            return (
                400,
                _error(
                    "BDC_1002", "vendorId, processDate, toPrintCheck and payments are required.", "REQUEST"
                ),
                None,
            )
        for item in body["payments"]:
            bill = self.bills.get(item.get("billId"))
            if not bill or bill["vendorId"] != body["vendorId"]:
                return 400, _error("BDC_1000", f"Bill {item.get('billId')} not found for this vendor."), None
            amount = item.get("amount")
            if isinstance(amount, float) or _money(amount) <= 0:
                return 400, _error("BDC_1002", "amount must be a positive number.", "REQUEST"), None
            if _money(amount) > bill["dueAmount"]:
                return (
                    400,
                    _error(
                        "BDC_1300", f"Payment amount {amount} exceeds the amount due {bill['dueAmount']}."
                    ),
                    None,
                )
        total = sum((_money(p["amount"]) for p in body["payments"]), Decimal(0))
        payment = make_payment(bill_id=body["payments"][0]["billId"], amount=total, status="PAID",
                               vendorId=body["vendorId"], processDate=body["processDate"], offline=True,
                               referenceId=body.get("referenceId"), description=body.get("description"))  # fmt: skip
        payment["billIds"] = [p["billId"] for p in body["payments"]]
        payment["billPayments"] = [
            {"id": f"blp{uuid.uuid4().hex[:12]}", "billId": p["billId"], "amount": _money(p["amount"])}
            for p in body["payments"]
        ]
        for item in body["payments"]:
            self._apply_payment(self.bills[item["billId"]], _money(item["amount"]))
        self.payments[payment["id"]] = payment
        self.recorded_payments.append(
            {"body": copy.deepcopy(body), "payment_id": payment["id"], "key": idempotent_key}
        )
        answer = (200, copy.deepcopy(payment), None)
        if idempotent_key:
            self._idempotent[idempotent_key] = answer
        return answer

    def _approval_actions(self, body):
        items = body if isinstance(body, list) else (body or {}).get("approvals") or []
        for item in items:
            bill = self.bills.get(item.get("billId"))
            if not bill:
                return 404, _error("BDC_1000", "Bill not found."), None
            if str(item.get("action") or item.get("approvalStatus") or "").upper() in ("APPROVE", APPROVED):
                self.approve_bill(bill["id"])
            else:
                self.touch(bill["id"], approvalStatus="DENIED")
        return 200, {"results": [copy.deepcopy(self.bills[i["billId"]]) for i in items]}, None

    def _subscribe(self, body, idempotent_key):
        if not idempotent_key or not UUID4.match(idempotent_key):
            return 400, _error("BDC_1002", "X-Idempotent-Key is missing or is not a UUID4.", "REQUEST"), None
        if idempotent_key in self._idempotent:
            return self._idempotent[idempotent_key]
        if not isinstance(body, dict) or not all(
            body.get(k) for k in ("name", "status", "events", "notificationUrl")
        ):
            return (
                400,
                _error("BDC_1002", "name, status, events and notificationUrl are required.", "REQUEST"),
                None,
            )
        subscription = dict(copy.deepcopy(body), id=str(uuid.uuid4()), organizationId=self.organization_id,
                            securityKey=self.security_key)  # fmt: skip
        self.subscriptions[subscription["id"]] = subscription
        self._idempotent[idempotent_key] = answer = (200, copy.deepcopy(subscription), None)
        return answer


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Fake BILL v3 API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    server = BillServer(port=args.port, verbose=True).start()
    print(f"fake BILL at {server.url} (devKey {server.dev_key}, org {server.organization_id})", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
