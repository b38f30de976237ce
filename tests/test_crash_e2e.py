"""A crash is cheap (issue 11): SIGKILL of the master and every worker mid-run, then a restart.

A real prefork server (2 HTTP workers, 1 cron worker, --limit-time-real-cron=30) processes approved
invoices sent by webhook, against the reference platform answering every call after a latency.
While bills are being created, the whole process group is killed; after a restart: every invoice is
exactly one bill, every erp-status reached the platform, no Idempotency-Key was sent more than twice.
The test database's other scheduled actions are paused meanwhile (all due since its installation,
they would take the cron worker's passes: not what this test is about).
"""

import os
import signal
import sys
import time
import uuid
from pathlib import Path

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tools import config

TOOLS_DIR = Path(__file__).resolve().parents[1] / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.insert(0, str(TOOLS_DIR))

import slow_platform_scenario as scenario  # noqa: E402
from ap_platform_server import ApPlatformServer  # noqa: E402
from odoo_server import odoo_server  # noqa: E402

N = 30
LATENCY = 0.2
SERVER_ARGS = ["--limit-time-real-cron=30"]


def test_sigkill_of_every_odoo_process_mid_run_loses_and_duplicates_nothing():
    database = config["db_name"].split(",")[0]
    registry = Registry(database)
    tag = uuid.uuid4().hex[:8]
    with ApPlatformServer(api_key=scenario.API_KEY, latency=LATENCY) as platform_server:
        with registry.cursor() as cr:
            platform = scenario.setup(api.Environment(cr, SUPERUSER_ID, {}), platform_server.url, tag)
            platform_id, code = platform.id, platform.code
        documents = scenario.invoices(tag, N)
        with registry.cursor() as cr:
            paused = scenario.pause_other_crons(cr)
        try:
            with odoo_server(
                config.rcfile, database, workers=2, cron_threads=1, extra_args=SERVER_ARGS
            ) as url:
                statuses = scenario.send_all(url, code, platform_server, documents)
                assert statuses == {202: N}, statuses
                # Mid-run: some bills exist, not all of them.
                snap, ok = scenario.wait_for(
                    registry, platform_id, lambda s: scenario.billed(s) >= 3, timeout=120, poll=0.1
                )
                assert ok, f"processing did not start: {snap} (log {url.log_path})"
                os.killpg(url.process.pid, signal.SIGKILL)
                url.process.wait(30)
                time.sleep(0.5)  # PostgreSQL ends the killed sessions, their transactions roll back
            with registry.cursor() as cr:
                at_kill = scenario.snapshot(cr, platform_id)
            assert scenario.billed(at_kill) < N, f"the kill came too late to test anything: {at_kill}"

            with odoo_server(
                config.rcfile, database, workers=2, cron_threads=1, extra_args=SERVER_ARGS
            ) as url:
                snap, ok = scenario.wait_for(
                    registry,
                    platform_id,
                    lambda s: scenario.billed(s) == N and not s["outbox"].get("pending"),
                    timeout=60 + N * LATENCY * 3 * 2,
                )
                log_path = url.log_path
            assert ok, f"not finished after the restart: {snap} (log {log_path})"
            assert snap["states"] == {"bill_created": N}, snap
            assert snap["bills_per_invoice"] == {1: N}, "every invoice is exactly one bill"
            assert snap["outbox"] == {"done": N}, snap["outbox"]
            delivered = scenario.delivered_statuses(platform_server)
            assert sorted(delivered) == sorted(
                d["id"] for d in documents
            ), "every erp-status reached the platform"
            assert all(values == ["bill_created"] for values in delivered.values()), delivered
            keys = scenario.key_counts(platform_server)
            assert len(keys) == N
            assert max(keys.values()) <= 2, keys.most_common(3)
            # Whether a cron worker was killed at the limit meanwhile depends on the machine's load (a
            # cron worker runs niced): tools/bench/slow_platform.py measures that, not this test.
            assert "Traceback" not in Path(log_path).read_text(), f"tracebacks in {log_path}"
        finally:
            with registry.cursor() as cr:
                scenario.resume_crons(cr, paused)
            scenario.cleanup(registry, platform_id)
