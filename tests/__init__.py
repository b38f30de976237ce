from . import test_platform_security, test_pull, test_staging_security, test_webhook
