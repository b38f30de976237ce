"""make demo DEMO_ARGS=--provider=rossum: the demo month through a fake Rossum (tools/rossum_server.py).

Called by tools/demo.py once Odoo runs. It creates a Rossum platform in the demo database, fills the
fake Rossum's queue with annotations (clean ones, and some with totals that do not tie, a missing
invoice number, an unknown vendor, locale-formatted values only), sends the signed export hooks,
lets a few arrive by a status event or the scheduled pull only, then polls the asynchronous answers
and prints what Rossum learnt.
"""

import random
import time

from rossum_server import RossumServer, make_annotation

LOGIN, PASSWORD = "odoo_demo@acme", "demo-rossum-password"
HOOK_SECRET = "demo-rossum-hook-secret"
QUEUE = 8236
CODE = "demo_rossum"
VENDORS = [("Acme Supplies B.V.", "NL123456789B01"), ("Bright Office Furniture NV", "BE0477472701"),
           ("Northwind IT Services GmbH", "DE129273398")]  # fmt: skip


def build_annotations(count, currency="eur"):
    rng = random.Random(7)
    annotations, kinds = [], {}
    for index in range(count):
        annotation_id = 500000 + index
        name, vat = VENDORS[index % len(VENDORS)]
        lines = [{"description": rng.choice(["Office supplies", "Maintenance", "Consulting"]),
                  "quantity": str(rng.randint(1, 9)), "unit_price": f"{rng.randint(500, 40000) / 100:.2f}",
                  "rate": "21"} for _n in range(rng.randint(1, 3))]  # fmt: skip
        kwargs = {"document_id": f"R-2026-{index + 1:04d}", "sender_name": name, "sender_vat_id": vat,
                  "date_issue": f"2026-11-{rng.randint(1, 28):02d}", "lines": lines, "currency": currency}  # fmt: skip
        kind = "clean"
        if index % 10 == 3:
            kind, kwargs["amount_total"] = "totals_do_not_tie", "1.00"
        elif index % 10 == 5:
            kind, kwargs["omit"] = "missing_document_id", ("document_id",)
        elif index % 10 == 7:
            kind, kwargs["sender_name"], kwargs["sender_vat_id"] = (
                "unknown_vendor",
                "Unknown Ltd",
                "GB999999973",
            )
        annotation = make_annotation(annotation_id, queue_id=QUEUE, **kwargs)
        if index % 10 == 9:  # only the text as printed: "1 210,00"
            kind = "locale_values_only"
            for section in annotation["content"]:
                for node in section["children"]:
                    for dp in [node] + [
                        d for row in node.get("children", []) for d in row.get("children", [])
                    ]:
                        if dp.get("category") == "datapoint" and dp.get("type") == "number":
                            dp["content"]["normalized_value"] = ""
        annotations.append(annotation)
        kinds[annotation_id] = kind
    return annotations, kinds


def run(registry, url, count=30, keep_running=False):
    from odoo import SUPERUSER_ID, api

    print(f"==> Odoo on {url}", flush=True)
    with RossumServer(username=LOGIN, password=PASSWORD) as rossum:
        rossum.add_queue(QUEUE, "Invoices EU")
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            demo = env.ref("account_ap_sync.demo_platform")
            env["ap.platform"].search([("code", "=", CODE)]).write({"active": False, "code": f"{CODE}_old"})
            platform = env["ap.platform"].create({
                "name": "Rossum (fake)", "code": CODE, "provider": "rossum", "mode": "both",
                "company_id": demo.company_id.id, "base_url": rossum.url, "api_login": LOGIN,
                "api_password": PASSWORD, "rossum_queue_ids": str(QUEUE), "webhook_secret": HOOK_SECRET,
                "journal_id": demo.journal_id.id, "verify_approval": True,
            })  # fmt: skip
            ok, message = platform._test_connection()
            platform_id = platform.id
            currency = demo.company_id.currency_id.name.lower()  # Rossum's enum values are lower-case
        print(f"==> Fake Rossum on {rossum.url}; platform {CODE}: Test Connection: {message}", flush=True)
        annotations, kinds = build_annotations(count, currency)
        for annotation in annotations:
            rossum.add_annotation(annotation)
        answers, locations = {}, {}
        pulled_only = {a["id"] for a in annotations[-4:]}
        for annotation in annotations:
            if annotation["id"] in pulled_only:
                continue
            if annotation["id"] % 6 == 0:
                response = rossum.send_hook(url, CODE, HOOK_SECRET, "annotation_status", "changed", annotation["id"],
                                            previous_status="reviewing")  # fmt: skip
            else:
                response = rossum.send_hook(
                    url, CODE, HOOK_SECRET, "annotation_content", "export", annotation["id"]
                )
            answers[response.status_code] = answers.get(response.status_code, 0) + 1
            if response.status_code == 202:
                locations[annotation["id"]] = response.headers["Location"]
            elif response.json().get("messages"):
                message = response.json()["messages"][0]
                if message["type"] == "error":
                    print(f"    {annotation['id']} refused: {message['content']}", flush=True)
        print(f"==> {sum(answers.values())} hooks sent, answers {answers}; "
              f"{len(pulled_only)} annotations left for the pull", flush=True)  # fmt: skip
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            pages = 1
            while env["ap.platform"].browse(platform_id)._pull_page(page_size=10):
                pages += 1
            cr.commit()
        print(f"==> Pulled the queue export ({pages} page(s))", flush=True)
        # The demo's Odoo runs the processing and delivery crons; Rossum polls the export answers.
        deadline, results = time.monotonic() + 300, {}
        while time.monotonic() < deadline:
            time.sleep(3)
            results = {}
            for annotation_id, location in locations.items():
                polled = requests_get(location)
                results[annotation_id] = (polled.status_code, (polled.json().get("messages") or [{}])[0])
            pending = sum(1 for status, _m in results.values() if status == 202)
            with registry.cursor() as cr:
                cr.execute("SELECT count(*) FROM ap_sync_outbox WHERE state = 'pending' AND platform_id = %s",
                           [platform_id])  # fmt: skip
                outbox_pending = cr.fetchone()[0]
                cr.execute("SELECT count(*) FROM ap_invoice_staging WHERE state = 'received' AND platform_id = %s",
                           [platform_id])  # fmt: skip
                received = cr.fetchone()[0]
            if not pending and not outbox_pending and not received:
                break
        with registry.cursor() as cr:
            cr.execute("SELECT state, count(*) FROM ap_invoice_staging WHERE platform_id = %s GROUP BY state",
                       [platform_id])  # fmt: skip
            states = dict(cr.fetchall())
            cr.execute(
                """SELECT exception_type, count(*) FROM ap_invoice_staging WHERE platform_id = %s
                   AND state = 'exception' GROUP BY exception_type ORDER BY 2 DESC""", [platform_id],
            )  # fmt: skip
            exceptions = cr.fetchall()
        rossum_states = {}
        for annotation in rossum.annotations.values():
            rossum_states[annotation["status"]] = rossum_states.get(annotation["status"], 0) + 1
        polled = {"success": 0, "error": 0, "pending": 0}
        for status, message in results.values():
            polled[
                "pending" if status == 202 else ("error" if message.get("type") == "error" else "success")
            ] += 1
        print()
        print("Summary (Rossum)")
        print(f"  {'annotations in the queue':38}{len(annotations):>6}")
        print(f"  {'staged in Odoo':38}{sum(states.values()):>6}")
        print(f"  {'bills created':38}{states.get('bill_created', 0) + states.get('posted', 0):>6}")
        print(f"  {'exceptions for accountants':38}{states.get('exception', 0):>6}")
        for kind, number in exceptions:
            print(f"    {kind:36}{number:>6}")
        print(f"  export hooks polled: {polled}")
        print(f"  annotation states in Rossum: {rossum_states}")
        print(f"  logins to Rossum: {rossum.logins}, throttled calls: {rossum.throttled}")
        print(
            f"  kinds of annotations sent: { {k: list(kinds.values()).count(k) for k in set(kinds.values())} }"
        )
        if keep_running:
            print(
                f"\nOdoo is running on {url}; the fake Rossum on {rossum.url}. Ctrl-C stops both.", flush=True
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


def requests_get(location):
    import requests

    return requests.get(location, timeout=30)
