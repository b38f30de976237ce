"""Black-box check of the environment guard with the real `odoo neutralize` command.

    .venv/bin/python tools/neutralize_check.py --database <db with account_ap_sync installed>

On the source database: a production platform that points at the reference server on 127.0.0.1, with
an API key and a webhook secret (Test Connection reaches it). Then a copy of the database
(CREATE DATABASE ... TEMPLATE), `odoo neutralize -d <copy>`, an Odoo server on the copy, and:
a signed webhook must answer 503 {"error": "neutralized"} and store nothing; Test Connection must
make no call. The copy is dropped at the end. Development tooling: never imported by the module.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from ap_platform_server import ApPlatformServer, make_invoice, sign_headers  # noqa: E402
from odoo_server import odoo_bin, odoo_server  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API_KEY = "neutralize-check-key"
CODE = "neutralize_check"


_CONFIGURED = []


def odoo_env(config, database):
    import odoo
    from odoo.tools import config as odoo_config

    if not _CONFIGURED:  # Odoo's configuration is parsed once per process
        odoo_config.parse_config(["-c", config])
        _CONFIGURED.append(config)
    registry = odoo.modules.registry.Registry(database)
    return odoo, registry


def run_in_env(config, database, function):
    odoo, registry = odoo_env(config, database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        result = function(env)
        cr.commit()
    odoo.modules.registry.Registry.delete(database)
    odoo.sql_db.close_db(database)  # `db duplicate` needs the source without connections
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--config", default=str(ROOT / "odoo.conf"))
    args = parser.parse_args()
    copy = f"{args.database}_neutralized"
    odoo = odoo_bin()  # the launcher make setup writes (see tools/odoo_server.py)
    checks = {}
    with ApPlatformServer(api_key=API_KEY) as server:

        def setup(env):
            platform = env["ap.platform"].search([("code", "=", CODE)]) or env["ap.platform"].create(
                {"name": "Neutralize check", "code": CODE}
            )
            platform.write({"base_url": server.url, "api_key": API_KEY, "webhook_secret": SECRET,
                            "environment": "production", "active": True})  # fmt: skip
            return platform.action_test_connection()["params"]["type"]

        checks["source: test connection"] = run_in_env(args.config, args.database, setup)
        checks["source: calls made"] = len(server.requests_log)
        server.clear()
        drop = [odoo, "db", "-c", args.config, "drop", copy]
        subprocess.run(drop, capture_output=True, check=False)
        subprocess.run(
            [odoo, "db", "-c", args.config, "duplicate", args.database, copy],
            check=True, capture_output=True,
        )  # fmt: skip
        neutralize = subprocess.run(
            [odoo, "neutralize", "-c", args.config, "-d", copy],
            capture_output=True,
            text=True,
            check=False,
        )
        checks["odoo neutralize exit code"] = neutralize.returncode
        try:
            with odoo_server(args.config, copy, workers=0) as url:
                body = json.dumps({"type": "invoice.approved", "timestamp": "2026-11-02T10:15:00Z",
                                   "data": make_invoice(doc_id="inv_neutralize_check")}).encode()  # fmt: skip
                headers = {"Content-Type": "application/json", **sign_headers(SECRET, body)}
                response = requests.post(
                    f"{url}/ap_sync/webhook/{CODE}", data=body, headers=headers, timeout=60
                )
                checks["copy: webhook status"] = response.status_code
                checks["copy: webhook body"] = response.json()

            def after(env):
                platform = env["ap.platform"].search([("code", "=", CODE)])
                notification = platform.action_test_connection()["params"]
                return {
                    "platform neutralized": platform.neutralized,
                    "stored events for the document": env["ap.sync.event"].search_count(
                        [("document_id", "=", "inv_neutralize_check")]
                    ),
                    "sync-log entries of the webhook": env["ap.sync.log"].search_count(
                        [("platform_id", "=", platform.id), ("direction", "=", "inbound")]
                    ),
                    "test connection": f"{notification['type']}: {notification['message']}",
                }

            checks.update({f"copy: {k}": v for k, v in run_in_env(args.config, copy, after).items()})
            checks["copy: calls made to the platform"] = len(server.requests_log)
        finally:
            subprocess.run(drop, capture_output=True, check=False, env=dict(os.environ))
    for key, value in checks.items():
        print(f"{key:45} {value}")
    ok = (
        checks["odoo neutralize exit code"] == 0
        and checks["copy: webhook status"] == 503
        and checks["copy: webhook body"] == {"error": "neutralized"}
        and checks["copy: calls made to the platform"] == 0
        and checks["copy: stored events for the document"] == 0
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
