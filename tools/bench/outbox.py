"""Outbox benchmark: deliver N messages to the local reference platform, beside a sequential loop.

    .venv/bin/python tools/bench/outbox.py [--messages 2000] [--per-document 3] [--latency 50]
                                           [--concurrency 4]

In the same run, against the same reference platform server on 127.0.0.1, which answers every
request after ``--latency`` milliseconds (a platform's own processing and network time):
  baseline  the same N POST /invoices/{id}/erp-status calls (same payloads, same order per
            document) from a plain sequential requests.Session loop;
  outbox    N outbox messages (``--per-document`` statuses per invoice: bill_created, posted,
            paid, ...) delivered by the delivery cron's own code, ``_cron_deliver`` (claim a group
            with SKIP LOCKED, send it through ``ap.platform._call_many``, record the answers and
            the sync-log entries, commit), until none is pending.
The platform's ``max_concurrent_calls`` is ``--concurrency``. The server counts the requests in
flight: the peak must never exceed that limit. Each invoice's statuses must reach the platform
in the order they were written. Prints both wall times, the speed-up (target: outbox at least
2.5 x faster than the loop at 50 ms), the peak concurrency and the order check; exits non-zero
when a message is lost, the limit is exceeded or an order is broken.
"""

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

import ap_platform_server  # noqa: E402
from ap_platform_server import ApPlatformServer  # noqa: E402
from processing import prepare_database  # noqa: E402

API_KEY = "bench-api-key"
STATUSES = ("bill_created", "posted", "in_payment", "partially_paid", "paid")
TARGET_SPEEDUP = 2.5


class InFlight:
    """Requests the reference server is handling at once (from reading the request to answering)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = self.peak = 0

    def reset(self):
        with self.lock:
            self.current = self.peak = 0

    def install(self):
        """Count around the server's request handling (the latency wait included)."""
        handler = ap_platform_server._Handler
        original = handler._process
        counter = self

        def counted(handler_self):
            with counter.lock:
                counter.current += 1
                counter.peak = max(counter.peak, counter.current)
            try:
                return original(handler_self)
            finally:
                with counter.lock:
                    counter.current -= 1

        handler._process = counted


def make_messages(count, per_document, tag):
    """``(document id, payload)`` in the order they are written: each invoice's statuses in a row."""
    messages = []
    for index in range(count):
        document, step = divmod(index, per_document)
        status = STATUSES[step % len(STATUSES)]
        messages.append(
            (
                f"{tag}_{document}",
                {"status": status, "erp_reference": f"BILL/{document}", "amount_residual": "0.00"},
            )
        )
    return messages


def order_problems(received, messages):
    """Documents whose statuses reached the platform in another order than written (or not at all)."""
    expected, seen = {}, {}
    for document, payload in messages:
        expected.setdefault(document, []).append(payload["status"])
    for entry in received:
        seen.setdefault(entry["invoice_id"], []).append(entry["body"]["status"])
    return sorted(document for document in expected if seen.get(document) != expected[document])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--per-document", type=int, default=3, help="messages per invoice (default 3)")
    parser.add_argument("--latency", type=float, default=50.0, help="platform answer delay, ms (default 50)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="the platform's max_concurrent_calls (default 4, the field's)",
    )
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()
    prepare_database(args.config, args.database)
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(args.database)
    count = args.messages
    in_flight = InFlight()
    in_flight.install()
    tag = uuid.uuid4().hex[:6]
    with ApPlatformServer(api_key=API_KEY, latency=args.latency / 1000) as server:
        # Baseline: the same calls, one after the other, from a plain loop.
        base_messages = make_messages(count, args.per_document, f"base_{tag}")
        session = requests.Session()
        headers = {"Authorization": f"Bearer {API_KEY}"}
        started = time.perf_counter()
        for document, payload in base_messages:
            response = session.post(
                f"{server.url}/invoices/{document}/erp-status",
                json=payload,
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                timeout=(5, 30),
            )
            response.raise_for_status()
        baseline = time.perf_counter() - started
        baseline_peak = in_flight.peak
        baseline_order = order_problems(list(server.erp_status), base_messages)
        server.clear()
        in_flight.reset()

        messages = make_messages(count, args.per_document, f"bench_{tag}")
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            platform = env["ap.platform"].create(
                {"name": "Outbox bench", "code": f"obench_{tag}", "base_url": server.url, "api_key": API_KEY,
                 "max_concurrent_calls": args.concurrency}
            )  # fmt: skip
            Outbox = env["ap.sync.outbox"]
            for document, payload in messages:
                # Rendered by the provider at delivery, as the module's own erp-status messages are.
                Outbox._enqueue_message(
                    platform, "erp_status", payload, document, document_key=f"invoice:{document}",
                    status=payload["status"],
                )  # fmt: skip
            platform_id = platform.id
            # Other benchmarks' platforms stay out of the way (the group size reads the active ones).
            env["ap.platform"].search([("id", "!=", platform_id)]).write({"active": False})
            cron_id = env.ref("account_ap_sync.ir_cron_ap_sync_deliver").id
        runs = 0
        started = time.perf_counter()
        while True:
            with registry.cursor() as cr:
                # The delivery cron's code; with cron_id in the context it commits after each group.
                env = api.Environment(cr, SUPERUSER_ID, {"cron_id": cron_id})
                done = env["ap.sync.outbox"]._cron_deliver(batch_size=count)
                group_size = env["ap.sync.outbox"]._get_group_size()
                runs += 1
            if not done:
                break
        outbox = time.perf_counter() - started
        outbox_peak = in_flight.peak
        with registry.cursor() as cr:
            cr.execute(
                "SELECT state, count(*) FROM ap_sync_outbox WHERE platform_id = %s GROUP BY state",
                [platform_id],
            )
            states = dict(cr.fetchall())
        received = list(server.erp_status)
    outbox_order = order_problems(received, messages)
    documents = len({document for document, _payload in messages})
    speedup = baseline / outbox
    print()
    print(
        f"outbox benchmark: {count} messages ({documents} invoices x {args.per_document}) to the reference "
        f"platform on 127.0.0.1, answering after {args.latency:g} ms; max_concurrent_calls {args.concurrency}"
    )
    print(f"{'':22}{'seconds':>9}{'msg/s':>9}{'peak in flight':>16}  order per document")
    print(
        f"{'sequential requests':22}{baseline:9.2f}{count / baseline:9.1f}{baseline_peak:16}"
        f"  {'kept' if not baseline_order else f'BROKEN for {len(baseline_order)}'}"
    )
    print(
        f"{'outbox (_cron_deliver)':22}{outbox:9.2f}{count / outbox:9.1f}{outbox_peak:16}"
        f"  {'kept' if not outbox_order else f'BROKEN for {len(outbox_order)}: {outbox_order[:3]}'}"
    )
    print(
        f"outbox groups of {group_size}, {runs} cron runs; states {states}, received by the platform {len(received)}"
    )
    print(f"outbox speed-up over the sequential loop: {speedup:.2f} x (target >= {TARGET_SPEEDUP})")
    print(
        f"peak concurrency seen by the platform: {outbox_peak} (limit {args.concurrency}: "
        f"{'within' if outbox_peak <= args.concurrency else 'EXCEEDED'})"
    )
    ok = len(received) == count and outbox_peak <= args.concurrency and not outbox_order
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
