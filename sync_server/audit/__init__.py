"""The audit trail of sensitive reads and exports."""
