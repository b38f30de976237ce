"""Browser tests of the exception queue: Odoo tours in headless Chromium, and screenshots.

The tours run as an accountant and as a manager. The screenshots of the queue, an exception form
and the Overview are written to the folder in $AP_SYNC_SCREENSHOTS (default: a folder in the temp
directory), which the test prints (and ``make test`` lists at the end).
"""

import base64
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from odoo.tests import HttpCase, tagged
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME, ChromeBrowser

from .test_processing_bill import BillPipelineCase

_logger = logging.getLogger(__name__)

QUEUE_URL = "/odoo/action-account_ap_sync.action_ap_sync_exception"
OVERVIEW_URL = "/odoo/action-account_ap_sync.action_ap_sync_overview"


def screenshot_dir():
    folder = Path(
        os.environ.get("AP_SYNC_SCREENSHOTS") or Path(tempfile.gettempdir(), "account_ap_sync_screenshots")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@tagged("post_install", "-at_install")
class TestExceptionQueueTours(BillPipelineCase, HttpCase):
    def unknown_vendor_invoice(self, number):
        supplier = {"external_id": f"V-{number}", "name": "Tour Unknown Supplies BV"}
        return self.process(self.stage(doc_id=f"tour_{number}", number=number, supplier=supplier))

    def price_variance_invoice(self, number, price="120.00"):
        order = self.make_po([(self.service, 5, 100.0)])
        return self.process(
            self.stage(doc_id=f"tour_{number}", number=number, purchase_order_ref=order.name,
                       lines=[{"quantity": "1", "unit_price": price, "po_line_ref": f"{order.name}/1"}])
        )  # fmt: skip

    def test_accountant_links_the_vendor_and_the_draft_bill_appears(self):
        staging = self.unknown_vendor_invoice("TOUR-LV-1")
        self.assertEqual(staging.exception_type, "unknown_vendor")
        vendor = self.env["res.partner"].create({"name": "Tour Linked Vendor", "is_company": True})
        self.start_tour(QUEUE_URL, "account_ap_sync_link_vendor", login=self.ap_user_a.login, timeout=180)
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertEqual((staging.move_id.partner_id, staging.move_id.state), (vendor, "draft"))
        item = self.env["ap.sync.exception"].search([("staging_id", "=", staging.id)])
        self.assertEqual((item.state, item.resolved_by), ("resolved", self.ap_user_a))
        mapping = self.env["ap.sync.mapping"].search([("external_code", "=", "V-TOUR-LV-1")])
        self.assertEqual(mapping.partner_id, vendor, "the mapping was remembered")

    def test_manager_accepts_a_price_variance(self):
        self.vendor.name = "Tour Variance Vendor"
        staging = self.price_variance_invoice("TOUR-PV-1")
        self.assertEqual(staging.exception_type, "price_variance")
        self.start_tour(QUEUE_URL, "account_ap_sync_accept_variance", login=self.manager.login, timeout=180)
        self.assertEqual(staging.state, "bill_created", staging.exception_reason)
        self.assertEqual(staging.variance_override_uid, self.manager)
        self.assertEqual(staging.variance_override_reason, "Price increase agreed with the vendor on 3 Nov")

    def test_manager_overrides_the_posting_gate_with_a_reason(self):
        staging = self.process(self.stage(doc_id="tour_gate", number="TOUR-GATE-1"))
        bill = staging.move_id
        bill.invoice_line_ids[0].price_unit = 13.00  # approved: 10 x 12.50
        self.assertTrue(bill.ap_gate_problems)
        url = f"/odoo/action-account.action_move_in_invoice_type/{bill.id}"
        self.start_tour(url, "account_ap_sync_posting_gate_override", login=self.manager.login, timeout=180)
        self.assertEqual(bill.state, "posted")
        self.assertEqual(bill.ap_gate_override_uid, self.manager)
        self.assertEqual(bill.ap_gate_override_reason, "Freight agreed with the vendor on 3 Nov")
        self.assertEqual(bill.ap_posted_by, self.manager)

    def test_screenshots_of_queue_form_and_overview(self):
        for number in ("SHOT-1", "SHOT-2", "SHOT-3"):
            self.unknown_vendor_invoice(number)
        variance = self.price_variance_invoice("SHOT-PV", price="118.00")
        self.process(
            self.stage(doc_id="tour_shot_ok", number="SHOT-OK", lines=[{"quantity": "4", "unit_price": "7"}])
        )
        item = self.env["ap.sync.exception"].search([("staging_id", "=", variance.id)])
        folder = screenshot_dir()
        shots = {
            "exception_queue.png": (f"{QUEUE_URL}?view_type=kanban", ".o_kanban_view .o_kanban_record"),
            "exception_form.png": (f"{QUEUE_URL}/{item.id}", ".o_form_view .o_ap_sync_numbers"),
            "overview_dashboard.png": (OVERVIEW_URL, ".o_ap_sync_overview .o_ap_sync_platform_card"),
        }
        width, height = (int(size) for size in self.browser_size.replace(",", "x").split("x"))
        for filename, (url, selector) in shots.items():
            path = folder / filename
            box = self.save_screenshot(url, selector, path, login=self.manager.login)
            with Image.open(path) as picture:
                picture.load()
                self.assertEqual((picture.format, picture.size), ("PNG", (width, height)), path)
                self.assertPainted(picture.convert("RGB"), path)
                # The part that shows what the shot is for (the kanban cards, the numbers table, a platform
                # card) was painted too: text and borders, not an empty box.
                left, top = max(0, int(box["x"])), max(0, int(box["y"]))
                right, bottom = (
                    min(width, int(box["x"] + box["width"])),
                    min(height, int(box["y"] + box["height"])),
                )
                self.assertTrue(
                    right - left >= 20 and bottom - top >= 10, f"{selector} is on screen in {path}: {box}"
                )
                self.assertPainted(
                    picture.convert("RGB").crop((left, top, right, bottom)), f"{path} {selector}"
                )
        # A figure of the Overview opens exactly the records it counts.
        self.start_tour(
            OVERVIEW_URL, "account_ap_sync_overview_drilldown", login=self.manager.login, timeout=120
        )
        _logger.info("AP Sync screenshots saved in %s", folder)

    def assertPainted(self, picture, what):
        """Not a blank picture: many colours, no single one covering almost all of it, text on it."""
        pixels = picture.width * picture.height
        colours = picture.getcolors(maxcolors=pixels)
        self.assertGreater(len(colours), 50, f"{what}: {len(colours)} colours, a blank picture")
        most, background = max(colours)
        self.assertLess(most / pixels, 0.97, f"{what}: one colour covers {most / pixels:.0%} of it")
        # Text: pixels far darker than the background (Odoo's grey text on white differs by about 500).
        ink = sum(count for count, colour in colours if sum(background) - sum(colour) > 300)
        self.assertGreater(ink, 50, f"{what}: no text on it ({ink} pixels darker than the background)")

    def save_screenshot(self, url, selector, path, login):
        """Open ``url`` in headless Chromium as ``login``, wait for ``selector``, save a PNG of the page.
        Returns the box of the first element matching ``selector`` (``x, y, width, height``, in pixels)."""
        browser = ChromeBrowser(self)
        try:
            self.http_request_key = self.canonical_tag + "_browser_js"
            self.authenticate(login, login, browser=browser)
            self.cr.flush()
            self.cr.clear()
            browser.navigate_to(self.base_url() + url, wait_stop=True)
            ready = (
                f"!!document.querySelector({selector!r}) && !document.querySelector('.o_loading_indicator')"
            )
            self.assertTrue(browser._wait_ready(ready, timeout=120), f"{selector} never appeared on {url}")
            time.sleep(1)  # let fade-in transitions (notebook pages, dialogs) finish
            result = browser._websocket_send("Page.captureScreenshot", with_future=True).result(timeout=60)
            path.write_bytes(base64.b64decode(result["data"]))
            rect = f"JSON.stringify(document.querySelector({selector!r}).getBoundingClientRect())"
            answer = browser._websocket_request(
                "Runtime.evaluate", params={"expression": rect, "returnByValue": True}
            )
            return json.loads(answer["result"]["value"])
        finally:
            browser.stop()
            self._wait_remaining_requests()
            self.http_request_key = self.canonical_tag
            self.opener.cookies[TEST_CURSOR_COOKIE_NAME] = self.http_request_key
