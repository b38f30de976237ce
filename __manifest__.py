# Copyright 2026 account_ap_sync contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "AP Automation Sync",
    "summary": "Connect an AP automation platform (capture, approval, work queues) to Odoo "
    "vendor bills with signed webhooks, idempotent staging and a transactional outbox",
    "version": "18.0.1.0.0",
    "category": "Accounting/Accounting",
    "website": "https://github.com/account-ap-sync/account_ap_sync",
    "author": "account_ap_sync contributors",
    "license": "LGPL-3",
    "application": False,
    "installable": True,
    "depends": ["account", "purchase_stock", "mail"],
    "external_dependencies": {
        "python": ["requests", "jsonschema", "cryptography", "standardwebhooks"],
    },
    "data": [
        "security/ap_sync_security.xml",
        "security/ir.model.access.csv",
        "security/ap_bill_security.xml",
        "data/ir_sequence.xml",
        "data/ir_cron.xml",
        "data/ir_actions_server.xml",
        "data/ap_sync_operations_data.xml",
        "wizards/ap_platform_rotate_secret_views.xml",
        "wizards/ap_staging_override_views.xml",
        "wizards/ap_vendor_request_refuse_views.xml",
        "wizards/ap_sync_exception_resolve_views.xml",
        "views/ap_platform_views.xml",
        "views/ap_sync_log_views.xml",
        "views/ap_sync_event_views.xml",
        "views/ap_invoice_staging_views.xml",
        "views/ap_platform_bill_views.xml",
        "views/ap_sync_mapping_views.xml",
        "wizards/ap_sync_mapping_import_views.xml",
        "views/ap_sync_outbox_views.xml",
        "views/ap_vendor_request_views.xml",
        "views/ap_sync_exception_views.xml",
        "views/account_move_views.xml",
        "views/ap_sync_menus.xml",
        "views/ap_sync_operations_views.xml",
        "views/ap_governance_views.xml",
        "report/ap_audit_pack_report.xml",
        "views/ap_platform_rossum_views.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "account_ap_sync/static/src/**/*",
        ],
        "web.assets_tests": [
            "account_ap_sync/static/tests/tours/**/*",
        ],
    },
    "demo": [
        "demo/ap_sync_demo.xml",
    ],
}
