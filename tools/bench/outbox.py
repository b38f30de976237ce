"""Outbox benchmark: deliver N messages to the local reference platform, beside a plain loop.

    .venv/bin/python tools/bench/outbox.py [--messages 5000]

In the same run, against the same reference platform server on 127.0.0.1:
  baseline  the same N POST /invoices/{id}/erp-status requests from a plain requests.Session loop;
  outbox    N outbox messages delivered by the delivery cron's code (claim 100 with SKIP LOCKED,
            send, record the answer and a sync-log entry, commit), until none is pending.
Prints messages per second for both and the time ratio (target: outbox <= 2 x baseline).
"""

import argparse
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

from ap_platform_server import ApPlatformServer  # noqa: E402
from processing import prepare_database  # noqa: E402

API_KEY = "bench-api-key"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()
    prepare_database(args.config, args.database)
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(args.database)
    count = args.messages
    with ApPlatformServer(api_key=API_KEY) as server:
        # Baseline: the same requests from a plain loop.
        session = requests.Session()
        headers = {"Authorization": f"Bearer {API_KEY}"}
        started = time.perf_counter()
        for index in range(count):
            response = session.post(
                f"{server.url}/invoices/base_{index}/erp-status",
                json={"status": "paid", "erp_reference": f"BILL/{index}", "amount_residual": "0.00"},
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                timeout=(5, 30),
            )
            response.raise_for_status()
        baseline = time.perf_counter() - started
        server.clear()

        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            platform = env["ap.platform"].create(
                {"name": "Outbox bench", "code": f"obench_{uuid.uuid4().hex[:6]}", "base_url": server.url,
                 "api_key": API_KEY}
            )  # fmt: skip
            Outbox = env["ap.sync.outbox"]
            for index in range(count):
                Outbox._enqueue(
                    platform, "erp_status", "POST", f"/invoices/bench_{index}/erp-status",
                    {"status": "paid", "erp_reference": f"BILL/{index}", "amount_residual": "0.00"},
                    document_key=f"invoice:bench_{index}", status="paid",
                )  # fmt: skip
            platform_id = platform.id
        delivered = 0
        started = time.perf_counter()
        while True:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                batch = env["ap.sync.outbox"]._claim(limit=100)
                if not batch:
                    break
                batch._deliver()
                delivered += len(batch)
        outbox = time.perf_counter() - started
        with registry.cursor() as cr:
            cr.execute(
                "SELECT state, count(*) FROM ap_sync_outbox WHERE platform_id = %s GROUP BY state",
                [platform_id],
            )
            states = dict(cr.fetchall())
        received = len(server.erp_status)
    print()
    print(f"outbox benchmark: {count} messages to the reference platform on 127.0.0.1")
    print(f"{'':10}{'seconds':>9}{'msg/s':>9}")
    print(f"{'baseline':10}{baseline:9.1f}{count / baseline:9.1f}")
    print(
        f"{'outbox':10}{outbox:9.1f}{count / outbox:9.1f}  states {states}, received by the platform {received}"
    )
    print(f"outbox / baseline time: {outbox / baseline:.2f} (target <= 2)")
    return 0 if received == count else 1


if __name__ == "__main__":
    sys.exit(main())
