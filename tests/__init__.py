from . import (
    test_exception_queue,
    test_input_guard,
    test_input_property,
    test_outbox,
    test_platform_security,
    test_processing_bill,
    test_provider_rossum,
    test_provider_seam,
    test_pull,
    test_staging_security,
    test_ui_tours,
    test_webhook,
)
