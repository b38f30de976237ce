"""End-to-end intake under concurrency, outside the test transaction.

A real Odoo server with 2 workers serves the test database; the platform it uses is committed
first and removed afterwards. Signed events are sent from many threads at once; afterwards there
must be exactly one staging record per document and no event lost.
"""

import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tools import config

from .common import WEBHOOK_SECRET, make_invoice, sign_headers

TOOLS_DIR = Path(__file__).resolve().parents[1] / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.insert(0, str(TOOLS_DIR))

from odoo_server import odoo_server  # noqa: E402


def _body(data, event_type="invoice.approved"):
    import json

    return json.dumps({"type": event_type, "timestamp": "2026-11-02T10:15:00Z", "data": data}).encode()


@pytest.fixture(scope="module")
def e2e():
    database = config["db_name"].split(",")[0]
    registry = Registry(database)
    code = f"e2e_{uuid.uuid4().hex[:8]}"
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        platform_id = (
            env["ap.platform"].create({"name": "E2E", "code": code, "webhook_secret": WEBHOOK_SECRET}).id
        )
    try:
        with odoo_server(config.rcfile, database, workers=2) as url:
            yield {"url": f"{url}/ap_sync/webhook/{code}", "platform_id": platform_id, "registry": registry}
    finally:
        with registry.cursor() as cr:
            for table in ("ap_sync_log", "ap_sync_event", "ap_invoice_staging"):
                cr.execute(f"DELETE FROM {table} WHERE platform_id = %s", [platform_id])
            cr.execute("DELETE FROM ap_platform WHERE id = %s", [platform_id])


def _post(url, body, headers):
    response = requests.post(
        url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=60
    )
    return response.status_code, response.json()


def _counts(e2e):
    with e2e["registry"].cursor() as cr:
        result = {}
        for table in ("ap_invoice_staging", "ap_sync_event", "ap_sync_log"):
            cr.execute(f"SELECT count(*) FROM {table} WHERE platform_id = %s", [e2e["platform_id"]])
            result[table] = cr.fetchone()[0]
        cr.execute(
            "SELECT document_id, count(*) FROM ap_invoice_staging WHERE platform_id = %s GROUP BY document_id",
            [e2e["platform_id"]],
        )
        result["per_document"] = dict(cr.fetchall())
        return result


def test_concurrent_intake_never_duplicates_nor_loses(e2e):
    url = e2e["url"]
    # 1. The same signed event from 8 threads at the same instant.
    same = _body(make_invoice(doc_id="e2e_same", number="E2E-SAME"))
    same_headers = sign_headers(WEBHOOK_SECRET, same, webhook_id="msg_e2e_same")
    barrier = threading.Barrier(8)

    def send_same(_):
        barrier.wait()
        return _post(url, same, same_headers)

    with ThreadPoolExecutor(8) as pool:
        same_results = list(pool.map(send_same, range(8)))
    statuses = sorted(status for status, _answer in same_results)
    assert statuses == [200] * 7 + [202], same_results
    assert len({answer["reference"] for _status, answer in same_results}) == 1

    # 2. One document under 8 different webhook ids at the same instant.
    doc = _body(make_invoice(doc_id="e2e_doc", number="E2E-DOC"))
    barrier = threading.Barrier(8)

    def send_doc(index):
        barrier.wait()
        return _post(url, doc, sign_headers(WEBHOOK_SECRET, doc, webhook_id=f"msg_e2e_doc_{index}"))

    with ThreadPoolExecutor(8) as pool:
        doc_results = list(pool.map(send_doc, range(8)))
    assert [status for status, _answer in doc_results] == [202] * 8, doc_results
    assert len({answer["reference"] for _status, answer in doc_results}) == 1

    # 3. 50 distinct events concurrently.
    def send_distinct(index):
        body = _body(make_invoice(doc_id=f"e2e_{index:03d}", number=f"E2E-{index:03d}"))
        return _post(url, body, sign_headers(WEBHOOK_SECRET, body, webhook_id=f"msg_e2e_{index:03d}"))

    with ThreadPoolExecutor(16) as pool:
        distinct_results = list(pool.map(send_distinct, range(50)))
    assert [status for status, _answer in distinct_results] == [202] * 50, distinct_results

    counts = _counts(e2e)
    assert counts["ap_invoice_staging"] == 52, counts
    assert set(counts["per_document"].values()) == {1}, "exactly one staging record per document"
    assert counts["ap_sync_event"] == 1 + 8 + 50, "every distinct message kept, redeliveries not"
    assert counts["ap_sync_log"] == 8 + 8 + 50, "one sync-log entry per request"


def test_two_processing_workers_never_claim_the_same_record(e2e):
    """Two workers (two connections) claim at the same time: disjoint batches, nothing skipped."""
    registry = e2e["registry"]
    with registry.cursor() as cr:
        cr.execute(
            "SELECT count(*) FROM ap_invoice_staging WHERE platform_id = %s AND state = 'received'",
            [e2e["platform_id"]],
        )
        waiting = cr.fetchone()[0]
    assert waiting > 10, "the intake test leaves received records"
    barrier = threading.Barrier(2)
    claimed = {}

    def worker(name):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            platform = env["ap.platform"].browse(e2e["platform_id"])
            barrier.wait()
            batch = env["ap.invoice.staging"]._claim(limit=waiting // 2 + 1, platforms=platform)
            claimed[name] = set(batch.ids)
            barrier.wait()  # both hold their locks at the same time
            cr.rollback()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert claimed["a"] and claimed["b"]
    assert not claimed["a"] & claimed["b"], "no record in both batches"
    assert len(claimed["a"] | claimed["b"]) == min(waiting, 2 * (waiting // 2 + 1))
