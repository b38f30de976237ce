"""Slow-platform benchmark (issue 11): N approved invoices through a prefork server against a platform
that answers every call after a latency.

    .venv/bin/python tools/bench/slow_platform.py [--invoices 120] [--latency 0.6] [--database ap_sync_bench]

Setup: a prefork Odoo (2 HTTP workers, 1 cron worker, --limit-time-real-cron=30), the reference
platform (tools/ap_platform_server.py) with ``--latency`` on every answer, approval verification on,
Max concurrent calls 4; the database's other scheduled actions are paused during the run. The N
invoices are sent by webhook; the clock runs until every invoice is a bill and the outbox is drained
(every erp-status delivered).

Prints the wall time; the floor N x latency / concurrency counted for the approval calls plus the
erp-status calls; their ratio; and, measured in the same run, a plain client making those 2N calls
with the same concurrency (the floor as the machine delivers it). Targets: all N billed, ratio <= 1.5,
no cron timeout in the server log.
"""

import argparse
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import slow_platform_scenario as scenario  # noqa: E402
from ap_platform_server import ApPlatformServer  # noqa: E402
from odoo_server import odoo_server  # noqa: E402


def prepare_database(conf, database):
    import odoo
    from odoo.service import db as db_service

    odoo.tools.config.parse_config(["-c", str(conf), "--log-level=warn"])
    action = "-u" if database in db_service.list_dbs(force=True) else "-i"
    subprocess.run(
        [sys.executable, "-m", "odoo", "-c", str(conf), "-d", database, action, "account_ap_sync",
         "--without-demo=all", "--stop-after-init", "--no-http", "--log-level=warn"],
        check=True,
    )  # fmt: skip


def plain_client(platform_server, documents, concurrency):
    """The same 2N calls (GET each invoice, POST an erp-status) from a plain client: the machine's floor."""
    session_headers = {"Authorization": f"Bearer {scenario.API_KEY}"}

    def one(document):
        with requests.Session() as session:
            session.get(
                f"{platform_server.url}/invoices/{document['id']}", headers=session_headers, timeout=30
            )
            session.post(
                f"{platform_server.url}/invoices/{document['id']}/erp-status",
                json={"status": "bill_created"},
                headers={**session_headers, "Idempotency-Key": f"bench-{uuid.uuid4()}"},
                timeout=30,
            )

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, documents))
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--invoices", type=int, default=120)
    parser.add_argument("--latency", type=float, default=0.6)
    parser.add_argument("--concurrency", type=int, default=4, help="the platform's Max concurrent calls")
    parser.add_argument("--limit-time-real-cron", type=int, default=30)
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    args = parser.parse_args()
    n, latency, concurrency = args.invoices, args.latency, args.concurrency
    timeout = args.timeout or 60 + n * latency * 3

    prepare_database(args.config, args.database)
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(args.database)
    tag = uuid.uuid4().hex[:8]
    extra = [f"--limit-time-real-cron={args.limit_time_real_cron}"]
    with ApPlatformServer(api_key=scenario.API_KEY, latency=latency) as platform_server:
        with registry.cursor() as cr:
            platform = scenario.setup(
                api.Environment(cr, SUPERUSER_ID, {}), platform_server.url, tag, concurrency
            )
            platform_id, code = platform.id, platform.code
        documents = scenario.invoices(tag, n)
        with registry.cursor() as cr:
            paused = scenario.pause_other_crons(cr)
        try:
            with odoo_server(args.config, args.database, workers=2, cron_threads=1, extra_args=extra) as url:
                log_offset = Path(url.log_path).stat().st_size
                with registry.cursor() as cr:
                    since = scenario.db_now(cr)
                started = time.perf_counter()
                statuses = scenario.send_all(url, code, platform_server, documents)
                snap, ok = scenario.wait_for(
                    registry,
                    platform_id,
                    lambda s: scenario.billed(s) == n and not s["outbox"].get("pending"),
                    timeout=timeout,
                    poll=0.2,
                )
                wall = time.perf_counter() - started
                log = Path(url.log_path).read_text()[log_offset:]
                with registry.cursor() as cr:
                    killed = scenario.killed_runs(cr, since)
        finally:
            with registry.cursor() as cr:
                scenario.resume_crons(cr, paused)
        keys = scenario.key_counts(platform_server)
        delivered = scenario.delivered_statuses(platform_server)
        platform_server.clear()
        plain = plain_client(platform_server, documents, concurrency)

    floor = n * latency / concurrency * 2
    timeouts = log.count("timeout after")
    print(f"\nslow-platform benchmark: {n} invoices, latency {latency} s, concurrency {concurrency}, "
          f"prefork 2 workers + 1 cron worker, --limit-time-real-cron={args.limit_time_real_cron}")  # fmt: skip
    print(f"webhooks answered:              {dict(statuses)}")
    print(
        f"billed:                         {scenario.billed(snap)} of {n}; bills per invoice {snap['bills_per_invoice']}"
    )
    print(
        f"outbox:                         {snap['outbox']}; erp-status delivered for {len(delivered)} invoices"
    )
    print(
        f"Idempotency-Keys:               {len(keys)} distinct, most sent {max(keys.values(), default=0)} times"
    )
    print(f"wall time:                      {wall:8.1f} s{'' if ok else '  (GAVE UP: not finished)'}")
    print(f"floor N x latency / conc x 2:   {floor:8.1f} s  (approval calls + erp-status calls)")
    print(f"plain client, same 2N calls:    {plain:8.1f} s  (measured now, same concurrency)")
    print(f"ratio wall / floor:             {wall / floor:8.2f}  (target <= 1.5)")
    print(f"runs of our crons killed:       {killed}  (target 0; from ir_cron_progress)")
    print(f"'timeout after' in the log:     {timeouts}  (during the run; Odoo also kills a cron worker that")
    print("                                sleeps longer than the limit: its idle wait is 60 s and more)")
    return 0 if ok and killed == 0 and wall / floor <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
