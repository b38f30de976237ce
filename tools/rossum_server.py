#!/usr/bin/env python3
"""A fake Rossum (rossum.app) API, built from the documented examples of the Rossum API reference.

Only what ``account_ap_sync`` uses, with the shapes the reference documents (sections cited beside
each part; reference: https://rossum.app/api/docs/ , formerly https://elis.rossum.ai/api/docs/):

* ``POST /api/v1/auth/login`` -> ``{"key": ..., "domain": null}`` ("Authentication", login example);
  every other call needs ``Authorization: Bearer <key>`` (or ``Token <key>``), else 401
  ``{"detail": "Invalid token."}``; ``expire_tokens()`` makes the issued keys invalid;
* ``GET /api/v1/queues`` ("Queue", list queues: ``{"pagination": {...}, "results": [...]}``);
* ``GET /api/v1/queues/{id}/export?format=json&status=...&page=&page_size=`` ("Export annotations",
  JSON format: paginated like a list, each result an annotation with its ``content`` tree);
* ``GET /api/v1/annotations/{id}`` ("Annotation" object, ``content`` as a URL) and
  ``GET /api/v1/annotations/{id}/content`` (``{"content": [sections]}``, "Annotation content");
* ``PATCH /api/v1/annotations/{id}`` ("Update part of an annotation": ``status``, ``metadata``);
* ``POST /api/v1/annotations/{id}/reject`` ("Reject annotation", ``note_content``);
* throttling: more than 10 requests in a second get 429 with ``Retry-After`` ("Rate limiting");
* hook calls to Odoo: the webhook payload of "Webhook events" (``request_id``, ``timestamp``,
  ``hook``, ``action``, ``event``, ``annotation``, ``document``), signed with
  ``X-Rossum-Signature-SHA256: sha256=<hex HMAC-SHA256 of the body keyed with config.secret>``
  ("Validating payloads from Rossum").

It depends on the standard library and ``requests`` only, and never imports Odoo.

    with RossumServer(username="api@acme", password="pw") as rossum:
        rossum.add_queue(8236, "Invoices EU")
        rossum.add_annotation(make_annotation(314521, queue_id=8236))
        body, headers = rossum.hook_request("annotation_content", "export", 314521, secret="s3cr3t")
"""

import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import deque
from urllib.parse import parse_qs, urlsplit

import requests
from fake_http import JsonHandler, ThreadingServer, serve_in_thread

MAX_REQUESTS_PER_SECOND = 10

DEFAULT_LINES = [
    # (description, quantity, unit price, rate, total base, total) as the capture would read them
    {"description": "Copy paper A4", "quantity": "10", "unit_price": "12.50", "rate": "21"},
]


def _datapoint(dp_id, schema_id, value, normalized=None, dtype="string"):
    """A datapoint of the annotation content ("Annotation content" example: category datapoint with
    its content value / normalized_value, page and position)."""
    return {
        "id": dp_id,
        "url": f"https://example.rossum.app/api/v1/annotations/0/content/{dp_id}",
        "category": "datapoint",
        "schema_id": schema_id,
        "type": dtype,
        "content": {
            "value": value,
            "normalized_value": value if normalized is None else normalized,
            "page": 1,
            "position": [100, 200, 300, 220],
            "rir_text": value,
            "rir_confidence": 0.98,
        },
        "validation_sources": ["human"],
        "hidden": False,
    }


def _money(value):
    from decimal import ROUND_HALF_UP, Decimal

    return format(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def _locale(value):
    """'1210.00' written as a European capture reads it: '1 210,00'."""
    whole, _sep, cents = value.partition(".")
    negative = whole.startswith("-")
    whole = whole.lstrip("-")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return ("-" if negative else "") + " ".join(groups or ["0"]) + ("," + cents if cents else "")


def make_annotation(
    annotation_id=314521,
    queue_id=8236,
    document_id="INV-2026-001",
    date_issue="2026-11-02",
    date_due="2026-12-02",
    sender_name="Acme Supplies B.V.",
    sender_vat_id="NL123456789B01",
    iban=None,
    currency="eur",
    order_id=None,
    lines=None,
    amount_total=None,
    amount_total_base=None,
    amount_total_tax=None,
    status="confirmed",
    omit=(),
    locale_values=True,
    schema_ids=None,
):
    """An annotation with its content tree, following the reference's "Annotation" and "Annotation
    content" examples: sections (category section) holding datapoints, and the ``line_items``
    multivalue holding ``line_item`` tuples. Amounts are written locale-formatted in ``value``
    ("1 210,00") and normalized in ``normalized_value`` ("1210.00"), as Rossum does.

    ``omit`` leaves datapoints out (by schema id); ``amount_total`` etc. override the computed totals
    (e.g. totals that do not tie); ``schema_ids`` renames datapoints (a customer's own schema)."""
    from decimal import Decimal

    rename = schema_ids or {}
    ids = iter(range(annotation_id * 100, annotation_id * 100 + 10000))

    def dp(schema_id, value, normalized=None, dtype="string"):
        if schema_id in omit or value is None:
            return None
        return _datapoint(next(ids), rename.get(schema_id, schema_id), value, normalized, dtype)

    def number(schema_id, value):
        if value is None:
            return None
        return dp(schema_id, _locale(value) if locale_values else value, value, "number")

    base_total, tax_total, tuples = Decimal(0), Decimal(0), []
    for index, line in enumerate(lines if lines is not None else DEFAULT_LINES):
        quantity, price = Decimal(line["quantity"]), Decimal(line["unit_price"])
        rate = Decimal(line.get("rate", "21"))
        base = Decimal(_money(quantity * price))
        tax = Decimal(_money(base * rate / 100))
        base_total += base
        tax_total += tax
        children = [
            dp("item_description", line.get("description", f"Item {index + 1}")),
            number("item_quantity", line["quantity"]),
            number("item_amount_base", line["unit_price"]),
            number("item_rate", line.get("rate", "21")),
            number("item_total_base", line.get("total_base", _money(base))),
            number("item_amount_total", _money(base + tax)),
        ]
        tuples.append({
            "id": next(ids), "category": "tuple", "schema_id": rename.get("line_item", "line_item"),
            "children": [child for child in children if child],
        })  # fmt: skip
    gross = amount_total or _money(base_total + tax_total)
    header = [
        dp("document_id", document_id),
        dp("date_issue", date_issue, date_issue, "date"),
        dp("date_due", date_due, date_due, "date"),
        dp("order_id", order_id),
        dp("currency", currency, currency, "enum"),
    ]
    amounts = [
        number("amount_total_base", amount_total_base or _money(base_total)),
        number("amount_total_tax", amount_total_tax or _money(tax_total)),
        number("amount_total", gross),
    ]
    vendor = [dp("sender_name", sender_name), dp("sender_vat_id", sender_vat_id), dp("iban", iban)]
    content = [
        {"id": next(ids), "category": "section", "schema_id": "basic_info_section",
         "children": [child for child in header if child]},
        {"id": next(ids), "category": "section", "schema_id": "amounts_section",
         "children": [child for child in amounts if child]},
        {"id": next(ids), "category": "section", "schema_id": "vendor_section",
         "children": [child for child in vendor if child]},
        {"id": next(ids), "category": "section", "schema_id": "line_items_section",
         "children": [{"id": next(ids), "category": "multivalue", "schema_id": rename.get("line_items", "line_items"),
                       "children": tuples}]},
    ]  # fmt: skip
    return {
        "id": annotation_id,
        "url": f"https://example.rossum.app/api/v1/annotations/{annotation_id}",
        "queue": f"https://example.rossum.app/api/v1/queues/{queue_id}",
        "schema": "https://example.rossum.app/api/v1/schemas/223",
        "document": f"https://example.rossum.app/api/v1/documents/{annotation_id + 100}",
        "status": status,
        "modifier": None,
        "created_at": "2026-11-02T10:08:03.856648Z",
        "confirmed_at": "2026-11-03T08:00:00.000000Z"
        if status in ("confirmed", "exporting", "exported")
        else None,
        "exported_at": None,
        "export_failed_at": None,
        "modified_at": "2026-11-03T08:00:00.000000Z",
        "messages": None,
        "metadata": {},
        "automated": False,
        "content": content,
    }


def sign(secret, body):
    """X-Rossum-Signature-SHA256 header value of ``body`` ("Validating payloads from Rossum")."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hook_payload(
    event, action, annotation, request_id=None, status=None, previous_status=None, with_content=True
):
    """The body of a hook call ("Webhook events": annotation_content/export, annotation_status/changed)."""
    annotation = copy.deepcopy(annotation)
    if status:
        annotation["status"] = status
    if previous_status:
        annotation["previous_status"] = previous_status
    if not with_content:
        annotation["content"] = f"{annotation['url']}/content"
    return {
        "request_id": request_id or str(uuid.uuid4()),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        "base_url": "https://example.rossum.app",
        "hook": "https://example.rossum.app/api/v1/hooks/789",
        "settings": {},
        "secrets": {},
        "action": action,
        "event": event,
        "annotation": annotation,
        "document": {
            "id": annotation["id"] + 100,
            "url": annotation.get("document"),
            "mime_type": "application/pdf",
            "original_file_name": f"invoice_{annotation['id']}.pdf",
        },
    }


class _Handler(JsonHandler):
    server_version = "FakeRossum/1.0"

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, payload, headers = self.server.owner._handle(self.command, self.path, self.headers, raw)
        self.send_json(status, payload, headers)


class RossumServer:
    """The fake Rossum, in a thread on 127.0.0.1. ``url`` is the API root (``.../api``)."""

    def __init__(self, username="api_user@acme", password="rossum-pass", port=0, rate_limit=True):
        self.username, self.password = username, password
        self.rate_limit = rate_limit
        self.lock = threading.Lock()
        self.tokens = set()
        self.queues = {}
        self.annotations = {}
        self.requests_log = []
        self.logins = 0
        self.throttled = 0
        self._recent = deque()
        self._faults = []
        self._server = ThreadingServer(("127.0.0.1", port), _Handler, self)
        self._thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}/api"

    def start(self):
        self._thread = serve_in_thread(self._server, f"fake-rossum-{self._server.server_address[1]}")
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ state
    def add_queue(self, queue_id, name="Invoices"):
        self.queues[int(queue_id)] = {
            "id": int(queue_id), "name": name, "url": f"{self.url}/v1/queues/{queue_id}",
            "schema": f"{self.url}/v1/schemas/223", "status": "active",
        }  # fmt: skip
        return self.queues[int(queue_id)]

    def add_annotation(self, annotation):
        annotation = copy.deepcopy(annotation)
        queue_id = int(str(annotation["queue"]).rstrip("/").rsplit("/", 1)[-1])
        annotation["queue"] = f"{self.url}/v1/queues/{queue_id}"
        annotation["url"] = f"{self.url}/v1/annotations/{annotation['id']}"
        with self.lock:
            self.annotations[int(annotation["id"])] = annotation
        return annotation

    def expire_tokens(self):
        """Every issued key becomes invalid (Rossum: the token expired): the next call gets 401."""
        with self.lock:
            self.tokens.clear()

    def fail_next(self, status=429, retry_after=1, path_prefix="/api/v1", count=1):
        with self.lock:
            self._faults.extend([(path_prefix, status, retry_after)] * count)

    def calls(self, method=None, path_prefix=""):
        return [
            entry for entry in self.requests_log
            if (method is None or entry["method"] == method) and entry["path"].startswith(path_prefix)
        ]  # fmt: skip

    def hook_request(self, event, action, annotation_id, secret, **kwargs):
        """(body bytes, headers) of a signed hook call about a stored annotation."""
        payload = hook_payload(event, action, self._public(self.annotations[int(annotation_id)]), **kwargs)
        body = json.dumps(payload, separators=(",", ":")).encode()
        return body, {"Content-Type": "application/json", "X-Rossum-Signature-SHA256": sign(secret, body)}

    def send_hook(self, odoo_url, platform_code, secret, event, action, annotation_id, **kwargs):
        body, headers = self.hook_request(event, action, annotation_id, secret, **kwargs)
        return requests.post(
            f"{odoo_url}/ap_sync/webhook/{platform_code}", data=body, headers=headers, timeout=30
        )

    # ------------------------------------------------------------------ HTTP
    def _public(self, annotation, with_content=True):
        result = copy.deepcopy(annotation)
        if not with_content:
            result["content"] = f"{result['url']}/content"
        return result

    def _page(self, items, query, path):
        page = max(int((query.get("page") or ["1"])[0] or 1), 1)
        size = min(max(int((query.get("page_size") or ["20"])[0] or 20), 1), 100)
        start = (page - 1) * size
        chunk = items[start : start + size]
        total_pages = max((len(items) + size - 1) // size, 1)
        params = {key: values[0] for key, values in query.items() if key not in ("page", "page_size")}
        extra = "".join(f"{key}={value}&" for key, value in params.items())
        nxt = f"{self.url}{path}?{extra}page={page + 1}&page_size={size}" if page < total_pages else None
        prev = f"{self.url}{path}?{extra}page={page - 1}&page_size={size}" if page > 1 else None
        return {"pagination": {"total": len(items), "total_pages": total_pages, "next": nxt, "previous": prev},
                "results": chunk}  # fmt: skip

    def _handle(self, method, target, headers, raw):
        split = urlsplit(target)
        path, query = split.path, parse_qs(split.query)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        with self.lock:
            self.requests_log.append({
                "method": method, "path": path, "query": {k: v[0] for k, v in query.items()},
                "body": body if not path.endswith("/auth/login") else {"username": (body or {}).get("username")},
                "authorization": (headers.get("Authorization") or "").split(" ")[0],
                "at": time.monotonic(),
            })  # fmt: skip
            now = time.monotonic()
            self._recent.append(now)
            while self._recent and now - self._recent[0] > 1.0:
                self._recent.popleft()
            if self.rate_limit and len(self._recent) > MAX_REQUESTS_PER_SECOND:
                self.throttled += 1
                return (
                    429,
                    {"detail": "Request was throttled. Expected available in 1 second."},
                    {"Retry-After": "1"},
                )
            for index, (prefix, status, retry_after) in enumerate(self._faults):
                if path.startswith(prefix):
                    del self._faults[index]
                    return status, {"detail": "Request was throttled."}, {"Retry-After": str(retry_after)}
        if not path.startswith("/api/v1/"):
            return 404, {"detail": "Not found."}, {}
        route = path[len("/api/v1") :].strip("/").split("/")
        if route == ["auth", "login"] and method == "POST":
            if body is None:
                form = parse_qs(raw.decode(errors="replace"))
                body = {key: values[0] for key, values in form.items()}
            if body.get("username") == self.username and body.get("password") == self.password:
                key = secrets.token_hex(20)
                with self.lock:
                    self.tokens.add(key)
                    self.logins += 1
                return 200, {"key": key, "domain": None}, {}
            return 401, {"non_field_errors": ["Unable to log in with provided credentials."]}, {}
        scheme, _sep, key = (headers.get("Authorization") or "").partition(" ")
        if scheme not in ("Bearer", "Token") or key not in self.tokens:
            return 401, {"detail": "Invalid token."}, {}
        if body is None:
            return 400, {"detail": "JSON parse error."}, {}
        return self._route(method, route, query, body, path[len("/api") :])

    def _route(self, method, route, query, body, path):
        if route == ["queues"] and method == "GET":
            return 200, self._page(list(self.queues.values()), query, path), {}
        if len(route) == 3 and route[0] == "queues" and route[2] == "export" and method in ("GET", "POST"):
            queue_id = int(route[1]) if route[1].isdigit() else None
            if queue_id not in self.queues:
                return 404, {"detail": "Not found."}, {}
            statuses = set((query.get("status") or [""])[0].split(",")) - {""}
            with self.lock:
                items = [
                    self._public(a) for a_id, a in sorted(self.annotations.items())
                    if a["queue"].endswith(f"/queues/{queue_id}") and (not statuses or a["status"] in statuses)
                ]  # fmt: skip
            return 200, self._page(items, query, path), {}
        if route and route[0] == "annotations" and len(route) >= 2 and route[1].isdigit():
            annotation = self.annotations.get(int(route[1]))
            if annotation is None:
                return 404, {"detail": "Not found."}, {}
            if len(route) == 2 and method == "GET":
                return 200, self._public(annotation, with_content=False), {}
            if route[2:] == ["content"] and method == "GET":
                return 200, {"content": copy.deepcopy(annotation["content"])}, {}
            if len(route) == 2 and method == "PATCH":
                return self._patch(annotation, body)
            if route[2:] == ["reject"] and method == "POST":
                if annotation["status"] not in (
                    "to_review",
                    "reviewing",
                    "confirmed",
                    "exporting",
                    "failed_export",
                ):
                    return (
                        400,
                        {"detail": f"Cannot reject an annotation in status {annotation['status']}."},
                        {},
                    )
                with self.lock:
                    annotation["status"] = "rejected"
                    annotation["note"] = body.get("note_content")
                return 200, self._public(annotation, with_content=False), {}
        return 404, {"detail": "Not found."}, {}

    def _patch(self, annotation, body):
        unknown = set(body) - {"status", "metadata"}
        if unknown:
            return 400, {"detail": f"Fields not writable here: {', '.join(sorted(unknown))}"}, {}
        new = body.get("status")
        allowed = {"exported": ("confirmed", "exporting", "failed_export", "exported"),
                   "failed_export": ("confirmed", "exporting", "failed_export")}  # fmt: skip
        if new and annotation["status"] not in allowed.get(new, ()):
            return 400, {"status": [f"Cannot switch from {annotation['status']} to {new}."]}, {}
        with self.lock:
            if new:
                annotation["status"] = new
                if new == "exported":
                    annotation["exported_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if "metadata" in body:
                annotation["metadata"] = body["metadata"]
        return 200, self._public(annotation, with_content=False), {}


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8071)
    parser.add_argument("--username", default="api_user@acme")
    parser.add_argument("--password", default="rossum-pass")
    args = parser.parse_args()
    server = RossumServer(args.username, args.password, port=args.port).start()
    server.add_queue(8236, "Invoices EU")
    print(f"Fake Rossum API on {server.url} (login {args.username})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
