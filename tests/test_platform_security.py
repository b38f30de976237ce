import os
from datetime import timedelta
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import config, mute_logger

from .common import API_KEY, OTHER_SECRET, WEBHOOK_SECRET, ApPlatformServer, ApSyncCase, CapturedLogs


@tagged("post_install", "-at_install")
class TestPlatformSecurity(ApSyncCase):
    def test_outsider_cannot_read_or_write_platforms(self):
        with self.assertRaises(AccessError):
            self.platform.with_user(self.outsider).read(["name"])
        with self.assertRaises(AccessError):
            self.env["ap.platform"].with_user(self.outsider).search([])
        with self.assertRaises(AccessError):
            self.platform.with_user(self.outsider).write({"name": "x"})

    def test_ap_user_reads_but_cannot_configure(self):
        self.assertEqual(self.platform.with_user(self.ap_user_a).read(["name"])[0]["name"], "Test Platform A")
        with self.assertRaises(AccessError):
            self.platform.with_user(self.ap_user_a).write({"name": "renamed"})
        with self.assertRaises(AccessError):
            self.env["ap.platform"].with_user(self.ap_user_a).create({"name": "x", "code": "x"})

    def test_company_a_user_cannot_see_company_b_platforms(self):
        visible = self.env["ap.platform"].with_user(self.ap_user_a).search([])
        self.assertIn(self.platform, visible)
        self.assertNotIn(self.platform_b, visible)
        with self.assertRaises(AccessError):
            self.platform_b.with_user(self.ap_user_a).read(["name"])

    def test_non_manager_cannot_read_secrets(self):
        as_user = self.platform.with_user(self.ap_user_a)
        with self.assertRaises(AccessError):
            as_user.read(["api_key"])
        with self.assertRaises(AccessError):
            as_user.read(["webhook_secret"])
        # A read of all fields simply leaves the secret fields out.
        values = as_user.read()[0]
        self.assertNotIn("api_key", values)
        self.assertNotIn("webhook_secret", values)
        self.assertTrue(values["api_key_set"])
        # The encrypted store is closed to every group, managers included.
        for user in (self.ap_user_a, self.manager):
            with self.assertRaises(AccessError):
                self.env["ap.platform.secret"].with_user(user).search([])

    def test_manager_sees_secrets_write_only(self):
        values = self.platform.with_user(self.manager).read(["api_key", "webhook_secret", "api_key_set"])[0]
        self.assertFalse(values["api_key"])
        self.assertFalse(values["webhook_secret"])
        self.assertTrue(values["api_key_set"])
        # Only the code path that needs the clear value gets it.
        self.assertEqual(self.platform._get_api_key(), API_KEY)
        self.assertEqual(self.platform._get_webhook_secrets(), [WEBHOOK_SECRET])

    def test_secrets_are_encrypted_at_rest(self):
        self.env.cr.execute(
            "SELECT kind, token FROM ap_platform_secret WHERE platform_id = %s ORDER BY kind",
            [self.platform.id],
        )
        rows = dict(self.env.cr.fetchall())
        self.assertEqual(set(rows), {"api_key", "webhook_secret"})
        for token in rows.values():
            self.assertNotIn(API_KEY, token)
            self.assertNotIn(WEBHOOK_SECRET.removeprefix("whsec_"), token)
            self.assertTrue(token.startswith("gAAAA"), "a Fernet token")

    def test_saving_a_secret_without_key_fails_naming_the_option(self):
        env_without = {k: v for k, v in os.environ.items() if k != "AP_SYNC_ENCRYPTION_KEY"}
        with (
            patch.dict(config.options, {"ap_sync_encryption_key": ""}),
            patch.dict(os.environ, env_without, clear=True),
        ):
            with self.assertRaises(UserError) as caught:
                self.platform.write({"api_key": "another-key"})
        self.assertIn("ap_sync_encryption_key", str(caught.exception))
        self.assertIn("AP_SYNC_ENCRYPTION_KEY", str(caught.exception))
        self.assertEqual(self.platform._get_api_key(), API_KEY, "the old secret is untouched")

    def test_key_from_environment_and_rotation(self):
        from cryptography.fernet import Fernet

        from odoo.addons.account_ap_sync.utils import crypto

        new_key = Fernet.generate_key().decode()
        old_key = config.get("ap_sync_encryption_key")
        # New key first, old key still listed: old tokens decrypt, re-encryption moves them to the new key.
        with patch.dict(config.options, {"ap_sync_encryption_key": f"{new_key},{old_key}"}):
            self.assertEqual(self.platform._get_api_key(), API_KEY)
            self.assertEqual(
                self.env["ap.platform.secret"]._reencrypt_all(),
                self.env["ap.platform.secret"].sudo().search_count([]),
            )
        with (
            patch.dict(config.options, {"ap_sync_encryption_key": ""}),
            patch.dict(os.environ, {"AP_SYNC_ENCRYPTION_KEY": new_key}),
        ):
            self.assertEqual(self.platform._get_api_key(), API_KEY)
        with patch.dict(config.options, {"ap_sync_encryption_key": old_key}):
            with self.assertRaises(UserError):
                self.platform._get_api_key()
        with patch.dict(config.options, {"ap_sync_encryption_key": "not-a-key"}):
            with self.assertRaises(UserError) as caught:
                crypto.encrypt("x", self.env)
            self.assertIn("ap_sync_encryption_key", str(caught.exception))

    def test_secret_not_in_export_or_chatter(self):
        fields_to_export = [
            "name",
            "code",
            "api_key",
            "webhook_secret",
            "webhook_secret_previous",
            "api_key_set",
            "webhook_secret_set",
        ]
        self.manager.groups_id += self.env.ref("base.group_allow_export")
        data = self.platform.with_user(self.manager).export_data(fields_to_export)["datas"]
        flat = repr(data)
        self.assertIn("test_a", flat)
        self.assertNotIn(API_KEY, flat)
        self.assertNotIn(WEBHOOK_SECRET, flat)
        messages = " ".join(self.platform.message_ids.mapped("body")) + " ".join(
            self.platform.message_ids.tracking_value_ids.mapped(
                lambda t: f"{t.old_value_char} {t.new_value_char}"
            )
        )
        self.assertIn("API key changed", messages)
        self.assertNotIn(API_KEY, messages)
        self.assertNotIn(WEBHOOK_SECRET, messages)

    def test_webhook_secret_format_checked(self):
        with self.assertRaises(UserError):
            self.platform.write({"webhook_secret": "plain-password"})
        with self.assertRaises(UserError):
            self.platform.write({"webhook_secret": "whsec_!!!not base64"})

    def test_previous_secret_honoured_until_expiry(self):
        wizard = (
            self.env["ap.platform.rotate.secret"]
            .with_user(self.manager)
            .create({"platform_id": self.platform.id, "new_secret": OTHER_SECRET, "grace_hours": 2})
        )
        wizard.action_rotate()
        self.assertEqual(self.platform._get_webhook_secrets(), [OTHER_SECRET, WEBHOOK_SECRET])
        self.assertNotIn(OTHER_SECRET, wizard.sudo().new_secret)
        self.platform.sudo().webhook_secret_previous_expiry = fields.Datetime.now() - timedelta(seconds=1)
        self.assertEqual(self.platform._get_webhook_secrets(), [OTHER_SECRET])

    def test_code_is_unique_and_well_formed(self):
        with self.assertRaises(ValidationError):
            self.env["ap.platform"].create({"name": "Bad", "code": "has space"})
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.env.cr.savepoint():
            self.env["ap.platform"].create({"name": "Dup", "code": "test_a"})

    def test_form_creates_platform_with_defaults(self):
        form = Form(self.env["ap.platform"].with_user(self.manager))
        form.name = "Form Platform"
        form.code = "form_platform"
        form.api_key = "form-key-123"
        platform = form.save()
        self.assertEqual(platform.max_payload_size, 10 * 1024 * 1024)
        self.assertEqual(platform.mode, "webhook")
        self.assertTrue(platform.verify_approval)
        self.assertEqual(platform.company_id, self.company_a)
        self.assertEqual(platform._get_api_key(), "form-key-123")
        self.assertTrue(platform.webhook_url.endswith("/ap_sync/webhook/form_platform"))


@tagged("post_install", "-at_install")
class TestConnection(ApSyncCase):
    def test_test_connection_ok_and_no_secret_logged(self):
        with ApPlatformServer(api_key=API_KEY) as server:
            self.platform.base_url = server.url
            with CapturedLogs() as logs:
                action = self.platform.with_user(self.manager).action_test_connection()
            requests_seen = list(server.requests_log)
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertEqual(requests_seen[-1]["path"], "/invoices")
        self.assertIn("AP Sync test_a GET /invoices -> 200", logs.text)
        self.assertNotIn(API_KEY, logs.text)
        self.assertNotIn(WEBHOOK_SECRET, logs.text)
        log = self.env["ap.sync.log"].search([("platform_id", "=", self.platform.id)], limit=1)
        self.assertEqual((log.direction, log.http_status, log.outcome), ("outbound", 200, "success"))
        self.assertEqual(self.platform.last_success_at, log.create_date)

    def test_test_connection_wrong_key_reports_refusal_without_secret(self):
        with ApPlatformServer(api_key="the-right-key") as server:
            self.platform.base_url = server.url
            with CapturedLogs() as logs:
                action = self.platform.action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("401", action["params"]["message"])
        self.assertNotIn(API_KEY, logs.text + action["params"]["message"])
        log = self.env["ap.sync.log"].search([("platform_id", "=", self.platform.id)], limit=1)
        self.assertEqual((log.http_status, log.outcome), (401, "rejected"))
        self.assertTrue(self.platform.last_failure_at)
        bodies = (log.body_attachment_id | log.response_attachment_id).mapped("raw")
        self.assertNotIn(API_KEY.encode(), b"".join(bodies))

    def test_test_connection_platform_down(self):
        with ApPlatformServer() as server:
            url = server.url
        self.platform.base_url = url  # nothing listens there any more
        action = self.platform.action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("Connection error", action["params"]["message"])
        log = self.env["ap.sync.log"].search([("platform_id", "=", self.platform.id)], limit=1)
        self.assertEqual(log.outcome, "error")

    def test_sync_log_is_append_only(self):
        log = self.env["ap.sync.log"]._log_call(
            platform=self.platform, direction="outbound", endpoint="/x", outcome="success", http_status=200
        )
        # AccessError is a UserError: ACLs stop users, the model itself stops even the superuser.
        for as_who in (log.with_user(self.ap_user_a), log.with_user(self.manager), log.sudo()):
            with self.assertRaises(UserError):
                as_who.write({"http_status": 500})
            with self.assertRaises(UserError):
                as_who.unlink()
        self.assertEqual(log.http_status, 200)
        with self.assertRaises(AccessError):
            log.with_user(self.outsider).read(["endpoint"])
