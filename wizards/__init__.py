from . import ap_platform_rotate_secret
