"""Helpers of account_ap_sync with no model of their own (each imported by name where used)."""
