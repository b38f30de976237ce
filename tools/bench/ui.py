"""Exception queue benchmark: server time of the queue's default list load and of the Overview data.

    .venv/bin/python tools/bench/ui.py [--count 5000] [--runs 7]

Brings the benchmark database to at least --count open exceptions, opened the real way: invoices
staged and processed until they stop (unknown vendor, approval not confirmed, missing tax mapping),
with ages spread over 60 days and a third of them assigned. Then, as an AP Sync user (record
rules apply), times the calls the web client makes, in the same process (server time, no HTTP):

  queue (grouped)  web_read_group of the default view: open exceptions grouped by type;
  queue (list)     web_search_read of the list view's fields, 80 rows, open ones, default order;
  overview         ap.sync.dashboard.get_dashboard_data (every platform's figures);
  baseline         web_search_read of 80 activities (mail.activity's list view), out of as many
                   activities as there are exceptions: plain Odoo on the same data.

Prints the median and the slowest of --runs runs of each (target: the queue and the overview each
under 1 s).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

from ap_platform_server import make_invoice  # noqa: E402
from processing import prepare_database  # noqa: E402

BATCH = 250
OPEN = ("open", "in_progress")


def ensure_user(env):
    user = env["res.users"].search([("login", "=", "bench_ap_user")])
    if not user:
        user = env["res.users"].create({
            "name": "Bench AP User", "login": "bench_ap_user",
            "groups_id": [(6, 0, [env.ref("base.group_user").id, env.ref("account_ap_sync.group_ap_sync_user").id])],
        })  # fmt: skip
    return user


def fill(registry, count):
    """Stage and process invoices until ``count`` exceptions are open; returns how many were added."""
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        user = ensure_user(env)
        missing = count - env["ap.sync.exception"].search_count([("state", "in", OPEN)])
        if missing <= 0:
            return 0, user.id
        env.ref("base.EUR").active = True
        tag = str(int(time.time()))[-6:]
        platform = env["ap.platform"].create({"name": f"Bench UI {tag}", "code": f"bench_ui_{tag}",
                                              "verify_approval": False})  # fmt: skip
        tax = env["account.tax"].create(
            {"name": f"Bench UI 21% {tag}", "amount": 21, "type_tax_use": "purchase"}
        )
        env["ap.sync.mapping"].create(
            {"mapping_type": "tax", "external_code": "S/21", "tax_id": tax.id, "platform_id": platform.id}
        )
        cr.commit()
        platform_id, user_id = platform.id, user.id
    Staging_ids = []
    for start in range(0, missing, BATCH):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            platform = env["ap.platform"].browse(platform_id)
            Event = env["ap.sync.event"]
            ids = []
            for index in range(start, min(start + BATCH, missing)):
                kind = index % 10
                extra = {}
                if kind < 7:  # unknown vendor
                    supplier = {"external_id": f"BV-{tag}-{index}", "name": f"Bench Unknown {tag} {index}"}
                else:
                    supplier = {"name": "Bench Known Vendor", "vat": "NL000099998B77"}
                    extra = {"approval_status": "pending"} if kind < 9 else {"tax_rate": "7.7"}
                data = make_invoice(doc_id=f"bench_ui_{tag}_{index}", number=f"BUI-{tag}-{index}",
                                    supplier=supplier, **extra)  # fmt: skip
                envelope = {"type": "invoice.approved", "data": data}
                _status, _body, event = Event._store(
                    platform, f"bui_{tag}_{index}", envelope, json.dumps(envelope).encode()
                )
                ids.append(event.staging_id.id)
            env["ap.invoice.staging"].browse(ids)._process()
            Staging_ids += ids
            cr.commit()
        print(f"  staged and processed {min(start + BATCH, missing)}/{missing}", flush=True)
    with registry.cursor() as cr:
        # Ages spread over 60 days, a third assigned: a queue as it looks after a busy quarter.
        cr.execute(
            """UPDATE ap_sync_exception SET create_date = now() at time zone 'utc' - (id %% 60) * interval '1 day',
                      user_id = CASE WHEN id %% 3 = 0 THEN %s ELSE user_id END
                WHERE staging_id = ANY(%s)""",
            [user_id, Staging_ids],
        )
    return missing, user_id


def ensure_known_vendor(registry):
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        if not env["res.partner"].search([("vat", "=", "NL000099998B77")]):
            env["res.partner"].create(
                {"name": "Bench Known Vendor", "vat": "NL000099998B77", "is_company": True}
            )


def list_specification(env, model, view_type="list"):
    """The fields the web client asks for: every field of the view, many2one with display_name."""
    from lxml import etree

    views = env[model].get_views([(False, view_type)])
    arch = etree.fromstring(views["views"][view_type]["arch"])
    spec = {}
    for node in arch.iter("field"):
        name = node.get("name")
        field = env[model]._fields[name]
        if field.type in ("many2one", "many2many", "one2many"):
            spec[name] = {"fields": {"display_name": {}}}
        else:
            spec[name] = {}
    return spec


def timed(registry, user_id, call, runs):
    from odoo import api

    durations = []
    for _ in range(runs):
        with registry.cursor() as cr:
            env = api.Environment(cr, user_id, {"lang": "en_US", "tz": "UTC"})
            started = time.perf_counter()
            result = call(env)
            durations.append(time.perf_counter() - started)
    return durations, result


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", default="ap_sync_bench")
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()
    prepare_database(args.config, args.database)
    from odoo.modules.registry import Registry

    registry = Registry(args.database)
    ensure_known_vendor(registry)
    added, user_id = fill(registry, args.count)

    domain = [("state", "in", OPEN)]

    def queue_grouped(env):
        return env["ap.sync.exception"].web_read_group(
            domain, ["exception_type"], ["exception_type"], limit=80, orderby="exception_type", lazy=True
        )

    def queue_list(env):
        spec = list_specification(env, "ap.sync.exception")
        return env["ap.sync.exception"].web_search_read(domain, spec, limit=80, count_limit=10001)

    def overview(env):
        return env["ap.sync.dashboard"].get_dashboard_data()

    def baseline(env):
        # Plain Odoo: the activities list, as many records (one activity per exception), same page size.
        spec = list_specification(env, "mail.activity")
        return env["mail.activity"].web_search_read([], spec, limit=80, count_limit=10001)

    rows = []
    results = {}
    for name, call in (("queue (grouped)", queue_grouped), ("queue (list)", queue_list),
                       ("overview", overview), ("baseline", baseline)):  # fmt: skip
        durations, result = timed(registry, user_id, call, args.runs)
        results[name] = result
        rows.append((name, statistics.median(durations), max(durations)))

    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM ap_sync_exception WHERE state IN %s", [OPEN])
        open_count = cr.fetchone()[0]
    print()
    print(f"exception queue benchmark: {open_count} open exceptions ({added} added this run), "
          f"as an AP Sync user, {args.runs} runs each")  # fmt: skip
    print(f"{'call':18}{'median s':>10}{'max s':>9}  result")
    for name, median, slowest in rows:
        result = results[name]
        if name == "queue (grouped)":
            detail = f"{result['length']} groups, {sum(g['exception_type_count'] for g in result['groups'])} records"
        elif name == "overview":
            detail = f"{len(result['platforms'])} platforms"
        else:
            detail = f"{len(result['records'])} rows of {result['length']}"
        target = "" if name.startswith("baseline") else ("  OK (< 1 s)" if slowest < 1 else "  OVER 1 s")
        print(f"{name:18}{median:>10.3f}{slowest:>9.3f}  {detail}{target}")


if __name__ == "__main__":
    main()
