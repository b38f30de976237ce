from . import test_platform_security
