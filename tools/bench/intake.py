"""Intake benchmark: signed webhooks against a real Odoo with 2 workers, beside /web/health.

    .venv/bin/python tools/bench/intake.py [--events 1000] [--concurrency 8] [--workers 2] [--rounds 5]

Creates (once) the database ap_sync_bench with the module, a fresh platform per run, then sends
N signed, distinct invoice events at the given concurrency and the same number of GET /web/health
in the same run, interleaved: ``--rounds`` rounds of N / rounds health requests then N / rounds
events, so that both see the same load on the machine (a load that changes during the run would
otherwise favour one of them). Prints acknowledgement p50/p95/p99 and throughput for both over
all rounds, the ratio of the p95s (target: at most 2) with its range over the rounds, and how many
events were stored (target: none lost).
"""

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from ap_platform_server import make_invoice, sign_headers  # noqa: E402
from odoo_server import odoo_bin, odoo_server  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def percentile(values, pct):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ensure_database(conf, database):
    import odoo
    from odoo.service import db as db_service

    odoo.tools.config.parse_config(["-c", str(conf), "--log-level=warn"])
    if database not in db_service.list_dbs(force=True):
        print(f"creating database {database} with account_ap_sync (once)...", flush=True)
        subprocess.run(
            [odoo_bin(), "-c", str(conf), "-d", database, "-i", "account_ap_sync",
             "--without-demo=all", "--stop-after-init", "--no-http", "--log-level=warn"],
            check=True,
        )  # fmt: skip


def create_platform(database):
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(database)
    code = f"bench_{uuid.uuid4().hex[:8]}"
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        platform = env["ap.platform"].create({"name": "Bench", "code": code, "webhook_secret": SECRET})
        return registry, code, platform.id


def run_load(count, concurrency, make_request, offset=0):
    """``count`` requests at ``concurrency``; request ``i`` is ``make_request(session, offset + i)``."""
    local = threading.local()
    latencies, statuses = [], []
    lock = threading.Lock()

    def one(index):
        session = (
            getattr(local, "session", None) or setattr(local, "session", requests.Session()) or local.session
        )
        started = time.perf_counter()
        status = make_request(session, offset + index)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            statuses.append(status)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return {"latencies": latencies, "statuses": statuses, "wall": time.perf_counter() - started}


def summary(runs):
    latencies = [value for run in runs for value in run["latencies"]]
    statuses = [status for run in runs for status in run["statuses"]]
    return {
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "per_second": len(latencies) / sum(run["wall"] for run in runs),
        "statuses": {status: statuses.count(status) for status in set(statuses)},
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="health/intake rounds, interleaved (default 5)")
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()

    ensure_database(args.config, args.database)
    registry, code, platform_id = create_platform(args.database)
    bodies = []
    for index in range(args.events):
        invoice = make_invoice(
            doc_id=f"bench_{code}_{index}",
            number=f"B-{index}",
            lines=[
                {"quantity": str(1 + index % 7), "unit_price": "12.50", "description": f"Item {n}"}
                for n in range(5)
            ],
        )
        bodies.append(json.dumps({"type": "invoice.approved", "data": invoice}).encode())

    with odoo_server(args.config, args.database, workers=args.workers) as url:
        webhook_url = f"{url}/ap_sync/webhook/{code}"

        def health(session, _index):
            return session.get(f"{url}/web/health", timeout=60).status_code

        def intake(session, index):
            headers = {
                "Content-Type": "application/json",
                **sign_headers(SECRET, bodies[index], f"bench_{index}"),
            }
            return session.post(webhook_url, data=bodies[index], headers=headers, timeout=60).status_code

        run_load(50, args.concurrency, health)  # warm-up: workers up, registry loaded
        rounds = max(1, min(args.rounds, args.events))
        health_runs, event_runs = [], []
        for index in range(rounds):
            first, last = args.events * index // rounds, args.events * (index + 1) // rounds
            health_runs.append(run_load(last - first, args.concurrency, health, first))
            event_runs.append(run_load(last - first, args.concurrency, intake, first))

    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM ap_invoice_staging WHERE platform_id = %s", [platform_id])
        stored = cr.fetchone()[0]
    health_result, events = summary(health_runs), summary(event_runs)
    per_round = [summary([e])["p95"] / summary([h])["p95"] for h, e in zip(health_runs, event_runs)]
    print()
    print(
        f"intake benchmark: {args.events} requests each, concurrency {args.concurrency}, {args.workers} workers, "
        f"{rounds} interleaved rounds"
    )
    print(f"{'':28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}  statuses")
    for label, result in (("GET /web/health", health_result), ("POST webhook (intake)", events)):
        print(
            f"{label:28}{result['p50']:9.1f}{result['p95']:9.1f}{result['p99']:9.1f}{result['per_second']:9.1f}"
            f"  {result['statuses']}"
        )
    print(
        f"intake p95 / /web/health p95: {events['p95'] / health_result['p95']:.2f} (target <= 2); "
        f"per round {min(per_round):.2f} to {max(per_round):.2f}"
    )
    print(f"stored staging records: {stored} of {args.events}; lost: {args.events - stored}")
    return 0 if stored == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
