#!/usr/bin/env python3
"""Reference AP automation platform speaking the ``account_ap_sync`` contract, version 1.

This is the real peer the tests talk to (and the platform of the demo). It implements the platform side of
``docs/contract.md``:

* section 2, the platform API that Odoo calls: ``GET /invoices``, ``GET /invoices/{id}``,
  ``POST /invoices/{id}/erp-status``, ``PUT /vendors/{external_id}`` and ``PUT /purchase-orders/{number}``,
  with Bearer authentication and ``Idempotency-Key`` replay;
* section 1, the webhooks the platform sends to Odoo, signed per Standard Webhooks (``send_webhook``);
* sections 3 and 4, canonical invoices and vendors whose arithmetic ties (``make_invoice``, ``make_vendor``).

State lives in memory and is guarded by a lock. Faults can be programmed (``fail_next``): an error status
with or without ``Retry-After``, a delay (client timeouts) or an abrupt connection reset.

In tests::

    sys.path.insert(0, str(repo / "tools"))
    from ap_platform_server import ApPlatformServer, make_invoice

    with ApPlatformServer(api_key="secret") as platform:
        platform.add_invoice(make_invoice("inv_1", "INV-1"))
        platform.fail_next(status=429, retry_after=2)
        ...  # point Odoo at platform.url

From the command line::

    python tools/ap_platform_server.py serve --port 8070 --api-key K --seed invoices.json
    python tools/ap_platform_server.py sample invoice > invoice.json
    python tools/ap_platform_server.py send --odoo-url http://127.0.0.1:8069 --platform-code demo \\
        --webhook-secret whsec_... --type invoice.approved --file invoice.json

It depends on the standard library, ``requests`` and ``standardwebhooks`` only, and never imports Odoo.
"""

import argparse
import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import standardwebhooks
from fake_http import JsonHandler, ThreadingServer, serve_in_thread

__all__ = [
    "DEFAULT_LIMIT",
    "ERP_STATUSES",
    "MAX_LIMIT",
    "ApPlatformServer",
    "make_invoice",
    "make_vendor",
    "send_webhook",
    "serialize_envelope",
    "sign_headers",
    "utc_now_iso",
]

#: Statuses accepted by ``POST /invoices/{id}/erp-status`` (contract section 2).
ERP_STATUSES = frozenset(
    {"bill_created", "posted", "rejected", "in_payment", "partially_paid", "paid", "reversed"}
)
#: Page size of ``GET /invoices`` when ``limit`` is not given, and the largest one honoured.
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
#: Request bodies above this size are answered 413 without being read.
MAX_BODY_BYTES = 50 * 1024 * 1024
#: Decimal places of the few currencies that do not use 2 (ISO 4217 minor units); all others use 2.
CURRENCY_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}

DEFAULT_SUPPLIER = {"external_id": "V-100", "name": "Acme Supplies", "vat": "NL123456789B01"}
DEFAULT_APPROVERS = [{"name": "Dana Reyes", "email": "dana@buyer.example", "role": "budget owner"}]
DEFAULT_LINES = [{"description": "Copy paper A4", "quantity": "10", "unit_price": "12.50"}]


# --------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------


def utc_now_iso() -> str:
    """Return the current UTC time as ISO 8601 with a ``Z`` suffix, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (or date) into an aware UTC datetime.

    Accepts a ``Z`` suffix, a date alone (midnight) and a ``+hh:mm`` offset whose ``+`` was turned into a
    space by form decoding of an unencoded query string. Naive values are taken as UTC. Raises ValueError.
    """
    text = str(value).strip()
    if "T" in text and " " in text:
        text = text.replace(" ", "+")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _decimal(value, what: str) -> Decimal:
    """Convert a decimal string (or int/Decimal) into a Decimal, raising ValueError naming ``what``."""
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{what} is not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return result


def _money(amount: Decimal, currency: str) -> str:
    """Round ``amount`` half-up to the currency's minor unit and format it as a string ("125.00")."""
    digits = CURRENCY_DIGITS.get(currency.upper(), 2)
    return str(amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def _encode_cursor(sort_key: tuple[datetime, str]) -> str:
    """Encode the sort key of the last item of a page into an opaque, URL-safe cursor."""
    raw = json.dumps([sort_key[0].isoformat(), sort_key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Decode a cursor made by ``_encode_cursor``; raises ValueError when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, doc_id = json.loads(raw)
        if not isinstance(updated_at, str) or not isinstance(doc_id, str):
            raise ValueError("cursor members must be strings")
        return _parse_timestamp(updated_at), doc_id
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid cursor: {cursor!r}") from exc


def _invoice_sort_key(invoice: dict) -> tuple[datetime, str]:
    """Stable order of ``GET /invoices``: ``(updated_at, id)``; an unparsable ``updated_at`` sorts first."""
    try:
        updated_at = _parse_timestamp(invoice.get("updated_at"))
    except (TypeError, ValueError):
        updated_at = datetime.min.replace(tzinfo=timezone.utc)
    return updated_at, str(invoice.get("id"))


def _redact_headers(headers) -> dict:
    """Copy request headers into a dict, hiding credentials (``Authorization: Bearer ***``)."""
    result = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            result[name] = f"{scheme} ***" if scheme else "***"
        else:
            result[name] = value
    return result


# --------------------------------------------------------------------------------------------------------
# Canonical documents (contract sections 3 and 4)
# --------------------------------------------------------------------------------------------------------


def make_invoice(
    doc_id="inv_0001",
    number="INV-0001",
    lines=None,
    currency="EUR",
    supplier=None,
    company=None,
    approval_status="approved",
    document_type="invoice",
    tax_rate="21",
    issue_date="2026-11-02",
    **extra,
) -> dict:
    """Build a valid canonical invoice (schema 1.0) whose arithmetic ties exactly.

    ``lines`` is a list of dicts with at least ``quantity`` and ``unit_price`` (decimal strings); any other
    key (``description``, ``product_code``, ``po_line_ref``, ``account_code``, ``analytic``, ``uom``...) is
    kept. A line without ``tax`` gets ``{"category": "S", "rate": tax_rate}``; a ``tax`` without category or
    rate is completed the same way. Line ids default to "1", "2"... and ``uom`` to "C62".

    Computed with Decimal, money as strings in the currency's minor unit (2 decimals except a few currencies
    such as JPY, see ``CURRENCY_DIGITS``), rounding half-up:

    * line ``net_amount`` = quantity x unit_price;
    * ``tax_breakdown``: one entry per (category, rate), in order of first appearance, ``taxable_amount`` =
      sum of its line nets, ``tax_amount`` = taxable x rate / 100;
    * ``totals``: ``net`` = sum of line nets, ``tax`` = sum of tax amounts,
      ``gross`` = ``payable`` = net + tax.

    The default is one line "Copy paper A4", 10 x 12.50 at 21 %, from supplier V-100 "Acme Supplies".
    ``company`` is omitted unless given. ``approval`` is ``{"status": approval_status}`` plus
    ``approved_at`` and one approver when the status is "approved". ``updated_at`` is now (UTC, ``Z``).
    ``extra`` keyword arguments (``purchase_order_ref``, ``preceding_invoice``, ``due_date``, ``attachments``,
    ...) are merged last into the top level, so they can also overwrite computed members on purpose.
    """
    now = utc_now_iso()
    built_lines = []
    groups: dict[tuple[str, Decimal], dict] = {}
    for index, line in enumerate(DEFAULT_LINES if lines is None else lines, start=1):
        for required in ("quantity", "unit_price"):
            if required not in line:
                raise ValueError(f"line {index} has no {required}")
        quantity = _decimal(line["quantity"], f"line {index} quantity")
        unit_price = _decimal(line["unit_price"], f"line {index} unit_price")
        tax = dict(line.get("tax") or {})
        tax.setdefault("category", "S")
        tax["rate"] = str(tax.get("rate", tax_rate))
        net_amount = _money(quantity * unit_price, currency)

        built = {"id": str(line.get("id", index))}
        built.update(copy.deepcopy({key: value for key, value in line.items() if key != "id"}))
        built["quantity"] = str(line["quantity"])
        built.setdefault("uom", "C62")
        built["unit_price"] = str(line["unit_price"])
        built["net_amount"] = net_amount
        built["tax"] = tax
        built_lines.append(built)

        group_key = (tax["category"], _decimal(tax["rate"], f"line {index} tax rate"))
        group = groups.setdefault(
            group_key, {"category": tax["category"], "rate": tax["rate"], "taxable": Decimal(0)}
        )
        group["taxable"] += Decimal(net_amount)

    tax_breakdown = []
    for (_category, rate), group in groups.items():
        tax_breakdown.append(
            {
                "category": group["category"],
                "rate": group["rate"],
                "taxable_amount": _money(group["taxable"], currency),
                "tax_amount": _money(group["taxable"] * rate / 100, currency),
            }
        )
    net = sum((Decimal(line["net_amount"]) for line in built_lines), Decimal(0))
    tax_total = sum((Decimal(entry["tax_amount"]) for entry in tax_breakdown), Decimal(0))
    gross = _money(net + tax_total, currency)

    approval = {"status": approval_status}
    if approval_status == "approved":
        approval["approved_at"] = now
        approval["approvers"] = copy.deepcopy(DEFAULT_APPROVERS)

    invoice = {
        "schema_version": "1.0",
        "id": doc_id,
        "updated_at": now,
        "document_type": document_type,
        "number": number,
        "issue_date": issue_date,
        "currency": currency,
    }
    if company is not None:
        invoice["company"] = copy.deepcopy(company)
    invoice.update(
        {
            "supplier": copy.deepcopy(DEFAULT_SUPPLIER if supplier is None else supplier),
            "lines": built_lines,
            "tax_breakdown": tax_breakdown,
            "totals": {
                "net": _money(net, currency),
                "tax": _money(tax_total, currency),
                "gross": gross,
                "payable": gross,
            },
            "approval": approval,
        }
    )
    invoice.update(copy.deepcopy(extra))
    return invoice


def make_vendor(external_id="V-100", name="Acme Supplies", **extra) -> dict:
    """Build a canonical vendor (schema 1.0, contract section 4).

    Only ``schema_version``, ``external_id``, ``name`` and ``blocked: false`` are set by default; pass the
    other members (``vat``, ``email``, ``address``, ``bank_accounts``, ``payment_terms``...) as keywords.
    """
    vendor = {"schema_version": "1.0", "external_id": external_id, "name": name, "blocked": False}
    vendor.update(copy.deepcopy(extra))
    return vendor


# --------------------------------------------------------------------------------------------------------
# Webhooks: platform -> Odoo (contract section 1)
# --------------------------------------------------------------------------------------------------------


def sign_headers(secret, body, webhook_id=None, timestamp=None) -> dict:
    """Return the Standard Webhooks headers signing ``body`` (bytes or str) with ``secret`` (``whsec_...``).

    ``webhook_id`` defaults to ``"msg_" + uuid4 hex``, ``timestamp`` (int Unix seconds or an aware datetime)
    to now. The signature is computed by ``standardwebhooks.Webhook(secret).sign`` over the exact bytes;
    a body that is not UTF-8 (negative tests) is signed with the same HMAC-SHA256 scheme directly.
    """
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    if timestamp is None:
        timestamp = int(time.time())
    if isinstance(timestamp, datetime):
        timestamp = int(timestamp.timestamp())
    timestamp = int(timestamp)
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    webhook = standardwebhooks.Webhook(secret)
    try:
        signature = webhook.sign(
            msg_id=webhook_id,
            timestamp=datetime.fromtimestamp(timestamp, tz=timezone.utc),
            data=raw.decode("utf-8"),
        )
    except UnicodeDecodeError:
        key = webhook._whsecret  # the decoded secret; the library offers no bytes-level signing
        digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
        signature = f"v1,{base64.b64encode(digest).decode()}"
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def serialize_envelope(event_type, data, event_timestamp=None) -> bytes:
    """Serialize the webhook payload ``{"type", "timestamp", "data"}`` once, compactly, as UTF-8 bytes.

    ``event_timestamp`` (ISO 8601 string) defaults to now.
    """
    envelope = {"type": event_type, "timestamp": event_timestamp or utc_now_iso(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def send_webhook(
    odoo_url,
    platform_code,
    event_type,
    data,
    secret,
    webhook_id=None,
    timestamp=None,
    event_timestamp=None,
    extra_headers=None,
    body=None,
    timeout=30,
) -> requests.Response:
    """Sign and POST one webhook to ``{odoo_url}/ap_sync/webhook/{platform_code}``; return the response.

    The envelope is serialized once (``serialize_envelope``) and those exact bytes are signed and sent, with
    ``Content-Type: application/json`` and the ``webhook-id``/``webhook-timestamp``/``webhook-signature``
    headers. For negative tests: ``body`` (bytes) replaces the serialized envelope (and is what gets signed);
    ``extra_headers`` are applied after signing and override any header, a value of None removes it.
    """
    raw = serialize_envelope(event_type, data, event_timestamp) if body is None else body
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    headers = {"Content-Type": "application/json"}
    headers.update(sign_headers(secret, raw, webhook_id=webhook_id, timestamp=timestamp))
    for name, value in (extra_headers or {}).items():
        for existing in [key for key in headers if key.lower() == name.lower()]:
            del headers[existing]
        if value is not None:
            headers[name] = value
    url = f"{odoo_url.rstrip('/')}/ap_sync/webhook/{platform_code}"
    return requests.post(url, data=raw, headers=headers, timeout=timeout)


# --------------------------------------------------------------------------------------------------------
# Platform API: Odoo -> platform (contract section 2)
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    """One programmed fault (see ``ApPlatformServer.fail_next``)."""

    remaining: int
    status: int | None
    retry_after: object
    body: object
    path_prefix: str | None
    delay: float | None
    reset: bool
    headers: dict | None = None
    truncate: bool = False

    @property
    def kind(self) -> str:
        """Short name recorded in ``requests_log`` (``reset``, ``delay`` or ``status``)."""
        if self.reset:
            return "reset"
        if self.delay and self.status is None:
            return "delay"
        return "status"


class _BodyTooLarge(Exception):
    """The request announced a body above ``MAX_BODY_BYTES``."""


class _Handler(JsonHandler):
    """Request handler: reads the request, applies faults, authentication, idempotency and the routes."""

    server_version = "ApPlatformReference/1.0"

    # -- plumbing ----------------------------------------------------------------------------------------

    @property
    def owner(self) -> "ApPlatformServer":
        """The ``ApPlatformServer`` this handler serves."""
        return self.server.owner

    def setup(self):
        """Track the connection so that ``stop()`` can close idle keep-alive connections."""
        super().setup()
        self.owner._track_connection(self.connection, add=True)

    def finish(self):
        """Untrack the connection once the exchange is over."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.owner._track_connection(self.connection, add=False)

    def log_message(self, fmt, *args):
        """Log to stderr only when the server is verbose (the CLI); tests stay quiet."""
        if self.owner.verbose:
            sys.stderr.write(f"[ap-platform] {self.address_string()} - {fmt % args}\n")

    def send_error(self, code, message=None, explain=None):
        """Answer protocol-level errors (bad request line, unsupported method) with JSON, not HTML."""
        self.close_connection = True
        payload = {"error": HTTPStatus(code).phrase.lower().replace(" ", "_").replace("-", "_")}
        if message:
            payload["detail"] = message
        self._send(code, payload)

    def _send(self, status, payload, headers=None, truncate=False):
        """Write one response; ``payload`` is JSON-serialized unless it is bytes/str (sent as text).

        ``truncate``: announce the whole body but send only half of it, then close the connection."""
        if isinstance(payload, bytes | str):
            body = payload.encode("utf-8") if isinstance(payload, str) else payload
            content_type = "text/html" if body.lstrip().startswith(b"<") else "text/plain"
            content_type += "; charset=utf-8"
        else:
            body = json.dumps(payload).encode("utf-8")
            content_type = "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", "") != "HEAD":
                self.wfile.write(body[: len(body) // 2] if truncate else body)
            if truncate:
                self.wfile.flush()
                self._reset_connection()
        except OSError:
            self.close_connection = True

    def _answer(self, entry, status, payload, headers=None, truncate=False):
        """Record the answered status in the log entry, then send the response."""
        entry["status"] = status
        self._send(status, payload, headers, truncate)

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked); raises ValueError or _BodyTooLarge."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while True:
                size_line = self.rfile.readline(65537)
                length = int(size_line.split(b";", 1)[0].strip(), 16)
                if length == 0:
                    while self.rfile.readline(65537).strip():  # trailers up to the blank line
                        pass
                    return b"".join(chunks)
                size += length
                if size > MAX_BODY_BYTES:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(length))
                self.rfile.readline(65537)  # CRLF closing the chunk
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        length = int(length)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length)

    def _reset_connection(self):
        """Drop the connection without an answer: SO_LINGER 0 then close sends a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()  # drops the makefile reference, so that close() really closes the socket
            self.connection.close()
        except OSError:
            pass

    # -- request processing --------------------------------------------------------------------------------

    def do_GET(self):
        """GET: dispatched by path."""
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self):
        """Process one request end to end, answering 500 JSON if this server itself fails."""
        entry = None
        try:
            entry = self._process()
        except Exception:
            traceback.print_exc()
            if entry is None:
                entry = {}
            self.close_connection = True
            self._answer(entry, 500, {"error": "internal_error"})

    def _process(self) -> dict:
        """Log the request, then fault, authentication, body parsing and routing, in that order."""
        owner = self.owner
        split = urlsplit(self.path)
        path = split.path or "/"
        query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        idempotency_key = self.headers.get("Idempotency-Key")
        entry = {
            "method": self.command,
            "path": path,
            "query": query,
            "headers": _redact_headers(self.headers),
            "authorization_present": "Authorization" in self.headers,
            "json": None,
            "idempotency_key": idempotency_key,
            "status": None,
            "time": time.time(),
            "replay": False,
            "fault": None,
        }
        owner._log_request(entry)

        try:
            raw = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            self._answer(entry, 413, {"error": "payload_too_large", "limit": MAX_BODY_BYTES})
            return entry
        except (ValueError, OSError):
            self.close_connection = True
            self._answer(entry, 400, {"error": "invalid_body", "detail": "unreadable request body"})
            return entry
        parsed, json_ok = None, True
        if raw:
            try:
                parsed = json.loads(raw)
                entry["json"] = parsed
            except (UnicodeDecodeError, ValueError):
                json_ok = False

        if owner.latency and owner._stopping.wait(owner.latency):
            self._reset_connection()  # the server is stopping: do not answer late
            return entry

        fault = owner._take_fault(path)
        if fault is not None:
            entry["fault"] = fault.kind
            if fault.delay and owner._stopping.wait(fault.delay):
                self._reset_connection()  # the server is stopping: do not answer late
                return entry
            if fault.reset:
                self._reset_connection()
                return entry
            if fault.kind == "status":
                status = fault.status or 503
                payload = fault.body
                if payload is None:
                    payload = {"error": HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")}
                headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
                headers.update(fault.headers or {})
                if fault.truncate:
                    self.close_connection = True
                self._answer(entry, status, payload, headers, truncate=fault.truncate)
                return entry
            # a delay without status: the request is then processed normally (the answer comes late)

        if owner.api_key and not owner._authorized(self.headers.get("Authorization")):
            self._answer(entry, 401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
            return entry

        stripped = path.strip("/")
        segments = [unquote(segment) for segment in stripped.split("/")] if stripped else []
        route = self._route(segments)
        if route is None:
            self._answer(entry, 404, {"error": "not_found"})
            return entry
        name, method, argument = route
        if self.command != method:
            self._answer(entry, 405, {"error": "method_not_allowed"}, {"Allow": method})
            return entry

        if name == "list_invoices":
            status, payload = owner._list_invoices(query)
        elif name == "get_invoice":
            status, payload = owner._get_invoice(argument)
        else:
            status, payload, replayed = owner._mutate(
                name, argument, parsed, json_ok, idempotency_key, (self.command, path, raw), entry
            )
            if replayed:
                self._answer(entry, status, payload, {"Idempotent-Replayed": "true"})
                return entry
        self._answer(entry, status, payload)
        return entry

    @staticmethod
    def _route(segments):
        """Map path segments to ``(route name, HTTP method, path argument)``, or None for an unknown path."""
        if any(not segment for segment in segments):
            return None
        if segments == ["invoices"]:
            return "list_invoices", "GET", None
        if len(segments) == 2 and segments[0] == "invoices":
            return "get_invoice", "GET", segments[1]
        if len(segments) == 3 and segments[0] == "invoices" and segments[2] == "erp-status":
            return "erp_status", "POST", segments[1]
        if len(segments) == 2 and segments[0] == "vendors":
            return "put_vendor", "PUT", segments[1]
        if len(segments) == 2 and segments[0] == "purchase-orders":
            return "put_purchase_order", "PUT", segments[1]
        return None


class ApPlatformServer:
    """In-memory AP automation platform serving the contract's platform API over HTTP.

    ``ApPlatformServer(host="127.0.0.1", port=0, api_key=None)``: ``port=0`` picks a free port; with an
    ``api_key`` every request must carry ``Authorization: Bearer <api_key>`` (else 401). ``start()`` serves
    from a background thread, ``stop()`` shuts it down; it is also a context manager. ``url`` is the base URL.

    State, guarded by ``lock`` (hold it to read consistently while requests are in flight):

    * ``invoices``: platform document id -> canonical invoice (``add_invoice``);
    * ``vendors``: external id -> last ``PUT /vendors/{id}`` body;
    * ``purchase_orders``: number -> last ``PUT /purchase-orders/{number}`` body;
    * ``erp_status``: every accepted ``POST /invoices/{id}/erp-status`` as
      ``{"invoice_id", "body", "idempotency_key"}`` (replays excluded);
    * ``requests_log``: every request received, with ``method, path, query, headers`` (credentials
      redacted), ``authorization_present, json`` (parsed body or None), ``idempotency_key, status`` (None
      while in flight or when reset), ``time`` (Unix seconds, float), ``replay`` (bool; plus
      ``replay_mismatch`` on replays, True when the replayed request differs from the original) and
      ``fault`` (None, "status", "delay" or "reset");
    * ``webhooks_sent``: webhooks sent by ``send_webhook``: ``{"id", "type", "status_code", "response"}``.

    Mutating calls are idempotent per ``Idempotency-Key``: a key already answered gets the same status and
    body again (header ``Idempotent-Replayed: true``) and changes nothing. Extra keyword arguments:
    ``verbose`` logs each request to stderr; ``require_idempotency_key`` answers 400
    ``{"error": "missing_idempotency_key"}`` to mutating calls without one; ``webhook_secret`` is the default
    secret of ``send_webhook``; ``latency`` (seconds) delays every answer, as a slow platform would (requests
    are served concurrently, each waits on its own).
    """

    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        api_key=None,
        *,
        verbose=False,
        require_idempotency_key=False,
        webhook_secret=None,
        latency=0.0,
    ):
        self.host = host
        self.latency = float(latency or 0)
        self.port = port
        self.api_key = api_key
        self.verbose = verbose
        self.require_idempotency_key = require_idempotency_key
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self.invoices: dict[str, dict] = {}
        self.vendors: dict[str, dict] = {}
        self.purchase_orders: dict[str, dict] = {}
        self.erp_status: list[dict] = []
        self.requests_log: list[dict] = []
        self.webhooks_sent: list[dict] = []
        self._faults: list[_Fault] = []
        self._idempotency: dict[str, tuple[int, object, tuple]] = {}
        self._connections: set = set()
        self._httpd: ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8070`` (the actual port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "ApPlatformServer":
        """Bind and serve from a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        self._httpd = ThreadingServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = serve_in_thread(self._httpd, f"ap-platform-{self.port}")
        return self

    def stop(self):
        """Stop serving, close the listening socket and any open connection. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "ApPlatformServer":
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def serve_forever(self):
        """Start (if needed) and block until SIGINT/SIGTERM, then stop. Used by the CLI."""
        if self._httpd is None:
            self.start()
        done = threading.Event()

        def _stop(_signum, _frame):
            done.set()

        # SIGINT is handled explicitly too: a shell starting the server in the background ignores it otherwise.
        previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not done.wait(0.5):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.stop()

    # -- state and faults --------------------------------------------------------------------------------

    def add_invoice(self, invoice: dict) -> dict:
        """Store (or replace) a copy of ``invoice`` under its ``id``; sets ``updated_at`` to now if missing.

        Returns the stored copy. To make a replaced invoice show up again in ``updated_since`` pulls, give it
        a newer ``updated_at``.
        """
        if not isinstance(invoice, dict) or not invoice.get("id"):
            raise ValueError("an invoice needs an 'id'")
        stored = copy.deepcopy(invoice)
        if not stored.get("updated_at"):
            stored["updated_at"] = utc_now_iso()
        with self.lock:
            self.invoices[str(stored["id"])] = stored
        return stored

    def fail_next(
        self,
        count=1,
        status=None,
        retry_after=None,
        body=None,
        path_prefix=None,
        delay=None,
        reset=False,
        headers=None,
        truncate=False,
    ):
        """Program a fault for the next ``count`` requests (those whose path starts with ``path_prefix``).

        * default: answer ``status`` (503 when not given) with JSON ``body`` (default
          ``{"error": "<status phrase>"}``; a str/bytes body is sent as text, e.g. an HTML proxy page) and a
          ``Retry-After`` header when ``retry_after`` is given (seconds or an HTTP date);
        * ``delay`` seconds: wait before answering, for client timeouts. With a ``status`` the fault answer
          follows the wait; without one the request is then processed normally (it takes effect even though
          the client may have given up);
        * ``reset=True``: close the TCP connection with a reset, without answering (after ``delay`` if any);
        * ``headers``: extra response headers, e.g. ``status=302, headers={"Location": other_url}``;
        * ``truncate=True``: announce the whole body (Content-Length) but send half of it, then reset.

        Faults apply before authentication and in the order they were programmed; a faulted request is not
        processed and does not consume its ``Idempotency-Key``. Calls accumulate; ``clear()`` drops them.
        """
        if count < 1:
            return
        with self.lock:
            self._faults.append(
                _Fault(
                    count, status, retry_after, body, path_prefix, delay, bool(reset), headers, bool(truncate)
                )
            )

    def clear(self):
        """Forget all state: documents, logs, idempotency keys, sent webhooks and pending faults."""
        with self.lock:
            self.invoices.clear()
            self.vendors.clear()
            self.purchase_orders.clear()
            self.erp_status.clear()
            self.requests_log.clear()
            self.webhooks_sent.clear()
            self._faults.clear()
            self._idempotency.clear()

    @property
    def pending_faults(self) -> int:
        """Number of requests that programmed faults will still hit."""
        with self.lock:
            return sum(fault.remaining for fault in self._faults)

    def send_webhook(
        self,
        odoo_url,
        platform_code,
        event_type,
        data,
        secret=None,
        webhook_id=None,
        timestamp=None,
        event_timestamp=None,
        extra_headers=None,
        body=None,
    ) -> requests.Response:
        """Sign and POST a webhook to Odoo (module-level ``send_webhook``) and record it in ``webhooks_sent``.

        ``secret`` defaults to the ``webhook_secret`` given to the constructor.
        """
        secret = secret or self.webhook_secret
        if not secret:
            raise ValueError("a webhook secret is required")
        webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        response = send_webhook(
            odoo_url,
            platform_code,
            event_type,
            data,
            secret,
            webhook_id=webhook_id,
            timestamp=timestamp,
            event_timestamp=event_timestamp,
            extra_headers=extra_headers,
            body=body,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        with self.lock:
            self.webhooks_sent.append(
                {
                    "id": webhook_id,
                    "type": event_type,
                    "status_code": response.status_code,
                    "response": answer,
                }
            )
        return response

    # -- internals used by the handler -------------------------------------------------------------------

    def _track_connection(self, connection, add):
        with self.lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _log_request(self, entry):
        with self.lock:
            self.requests_log.append(entry)

    def _take_fault(self, path) -> _Fault | None:
        """Consume one hit of the first programmed fault matching ``path``."""
        with self.lock:
            for fault in self._faults:
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _authorized(self, header) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), str(self.api_key).encode())

    def _list_invoices(self, query):
        """``GET /invoices``: filter by status and updated_since, keyset pagination on (updated_at, id)."""
        try:
            limit = int(query.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            return 400, {"error": "invalid_limit"}
        if limit < 1:
            return 400, {"error": "invalid_limit"}
        limit = min(limit, MAX_LIMIT)
        since = None
        if query.get("updated_since"):
            try:
                since = _parse_timestamp(query["updated_since"])
            except ValueError:
                return 400, {"error": "invalid_updated_since"}
        after = None
        if query.get("cursor"):
            try:
                after = _decode_cursor(query["cursor"])
            except ValueError:
                return 400, {"error": "invalid_cursor"}
        status = query.get("status")
        with self.lock:
            candidates = [copy.deepcopy(invoice) for invoice in self.invoices.values()]
        selected = []
        for invoice in sorted(candidates, key=_invoice_sort_key):
            key = _invoice_sort_key(invoice)
            if status and (invoice.get("approval") or {}).get("status") != status:
                continue
            if since is not None and key[0] < since:
                continue
            if after is not None and key <= after:
                continue
            selected.append(invoice)
        page = selected[:limit]
        next_cursor = _encode_cursor(_invoice_sort_key(page[-1])) if len(selected) > limit else None
        return 200, {"data": page, "next_cursor": next_cursor}

    def _get_invoice(self, doc_id):
        with self.lock:
            invoice = self.invoices.get(doc_id)
            if invoice is None:
                return 404, {"error": "not_found"}
            return 200, copy.deepcopy(invoice)

    def _mutate(self, name, argument, parsed, json_ok, idempotency_key, fingerprint, entry):
        """Apply a mutating call once per Idempotency-Key; returns ``(status, payload, replayed)``."""
        fingerprint = (*fingerprint[:2], hashlib.sha256(fingerprint[2]).hexdigest())
        with self.lock:
            if idempotency_key is not None and idempotency_key in self._idempotency:
                status, payload, original = self._idempotency[idempotency_key]
                entry["replay"] = True
                entry["replay_mismatch"] = original != fingerprint
                return status, copy.deepcopy(payload), True
            status, payload = self._apply(name, argument, parsed, json_ok, idempotency_key)
            if idempotency_key is not None:
                self._idempotency[idempotency_key] = (status, copy.deepcopy(payload), fingerprint)
            return status, payload, False

    def _apply(self, name, argument, parsed, json_ok, idempotency_key):
        """Validate and apply one mutating call (lock held)."""
        if idempotency_key is None and self.require_idempotency_key:
            return 400, {"error": "missing_idempotency_key"}
        if not json_ok or parsed is None:
            return 400, {"error": "invalid_json"}
        if not isinstance(parsed, dict):
            return 400, {"error": "invalid_json", "detail": "expected a JSON object"}
        if name == "erp_status":
            if parsed.get("status") not in ERP_STATUSES:
                return 400, {"error": "invalid_status", "allowed": sorted(ERP_STATUSES)}
            self.erp_status.append(
                {"invoice_id": argument, "body": copy.deepcopy(parsed), "idempotency_key": idempotency_key}
            )
        elif name == "put_vendor":
            self.vendors[argument] = copy.deepcopy(parsed)
        elif name == "put_purchase_order":
            self.purchase_orders[argument] = copy.deepcopy(parsed)
        return 200, {"status": "ok"}


# --------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------


def _load_json(path):
    """Load JSON from a file path, or from stdin when path is "-"."""
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _cmd_serve(args) -> int:
    server = ApPlatformServer(
        args.host,
        args.port,
        args.api_key or None,
        verbose=True,
        webhook_secret=args.webhook_secret or None,
        latency=args.latency,
    )
    for seed in args.seed or []:
        documents = _load_json(seed)
        for invoice in documents if isinstance(documents, list) else [documents]:
            server.add_invoice(invoice)
    server.start()
    print(f"AP platform listening on {server.url}", flush=True)
    print(
        f"  auth: {'Bearer API key required' if server.api_key else 'none'}; "
        f"invoices: {len(server.invoices)}; stop with Ctrl-C",
        flush=True,
    )
    server.serve_forever()
    return 0


def _cmd_send(args) -> int:
    if not args.webhook_secret:
        print("error: --webhook-secret (or AP_WEBHOOK_SECRET) is required", file=sys.stderr)
        return 2
    data = _load_json(args.file) if args.file else {}
    try:
        response = send_webhook(
            args.odoo_url,
            args.platform_code,
            args.type,
            data,
            args.webhook_secret,
            webhook_id=args.webhook_id,
            timestamp=args.timestamp,
        )
    except requests.RequestException as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{response.status_code} {response.reason}")
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(response.text)
    return 0 if response.ok else 1


def _cmd_sample(args) -> int:
    document = make_vendor() if args.kind == "vendor" else make_invoice()
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def main(argv=None) -> int:
    """Command line entry point: ``serve``, ``send`` and ``sample``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the platform API until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8070, help="port (default 8070, 0 = any free port)")
    serve.add_argument(
        "--api-key", default=os.environ.get("AP_PLATFORM_API_KEY"), help="require this Bearer key"
    )
    serve.add_argument(
        "--webhook-secret",
        default=os.environ.get("AP_WEBHOOK_SECRET"),
        help="whsec_... secret kept as the server's default webhook secret",
    )
    serve.add_argument(
        "--latency", type=float, default=0.0, help="seconds every API answer waits (a slow platform)"
    )
    serve.add_argument(
        "--seed",
        action="append",
        metavar="FILE",
        help="JSON invoice or list of invoices to load (repeatable)",
    )
    serve.set_defaults(handler=_cmd_serve)

    send = commands.add_parser("send", help="sign and POST one webhook to Odoo")
    send.add_argument("--odoo-url", default="http://127.0.0.1:8069", help="default http://127.0.0.1:8069")
    send.add_argument("--platform-code", required=True)
    send.add_argument(
        "--webhook-secret",
        default=os.environ.get("AP_WEBHOOK_SECRET"),
        help="whsec_... (or AP_WEBHOOK_SECRET)",
    )
    send.add_argument("--type", required=True, help="event type, e.g. invoice.approved")
    send.add_argument("--file", help="JSON file with the event data ('-' = stdin; default {})")
    send.add_argument(
        "--webhook-id", help="message id (default msg_<uuid>); reuse it to simulate a redelivery"
    )
    send.add_argument("--timestamp", type=int, help="webhook-timestamp in Unix seconds (default now)")
    send.set_defaults(handler=_cmd_send)

    sample = commands.add_parser("sample", help="print a sample canonical invoice or vendor")
    sample.add_argument("kind", choices=["invoice", "vendor"])
    sample.set_defaults(handler=_cmd_sample)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
