from . import (
    ap_invoice_staging,
    ap_invoice_staging_line,
    ap_platform,
    ap_platform_demo,
    ap_platform_pull,
    ap_platform_secret,
    ap_sync_event,
    ap_sync_log,
)
