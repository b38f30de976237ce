# isort: off
from . import ap_input_mixin  # defined before the models inheriting it

# ap.invoice.staging is built from these parts, in this order: each may extend the ones before it.
from . import ap_invoice_staging  # the model: fields, states, the state map
from . import ap_invoice_staging_intake  # a platform document becomes a record
from . import ap_invoice_staging_engine  # claiming, the cron, running the steps
from . import ap_invoice_staging_steps  # the pipeline's steps, validation to bill
from . import ap_invoice_staging_status  # what goes back to the platform

# isort: on
from . import (
    account_move,
    account_move_bill,
    account_move_gate,
    ap_audit_pack,
    ap_bill_payment,
    ap_invoice_staging_bill,  # imports the parts it extends first (see there)
    ap_invoice_staging_line,
    ap_invoice_staging_ops,
    ap_invoice_staging_rollout,  # imports the parts it extends first (see there)
    ap_platform,
    ap_platform_bill,
    ap_platform_demo,
    ap_platform_governance,
    ap_platform_ops,
    ap_platform_provider,
    ap_platform_pull,
    ap_platform_rossum,
    ap_platform_secret,
    ap_sync_close_window,
    ap_sync_dashboard,
    ap_sync_dashboard_ops,
    ap_sync_event,
    ap_sync_event_bill,
    ap_sync_exception,
    ap_sync_exception_ops,
    ap_sync_log,
    ap_sync_mapping,
    ap_sync_metric,
    ap_sync_outbox,
    ap_sync_outbox_bill,
    ap_sync_outbox_guard,
    ap_sync_outbox_ops,
    ap_sync_policy,
    ap_sync_priority_rule,
    ap_sync_publish,
    ap_sync_reconciliation,
    ap_sync_reconciliation_line,
    ap_vendor_request,
    decimal_precision,
    ir_cron,
    ir_sequence,
    res_company,
    res_partner,
)
