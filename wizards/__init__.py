from . import (
    ap_governance_wizards,
    ap_platform_rotate_secret,
    ap_staging_override,
    ap_sync_exception_resolve,
    ap_sync_mapping_import,
)
