from . import ap_platform, ap_platform_demo, ap_platform_secret, ap_sync_log
