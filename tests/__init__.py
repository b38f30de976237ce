from . import test_platform_security, test_pull, test_webhook
