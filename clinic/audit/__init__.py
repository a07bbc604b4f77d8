"""The audit trail: an AuditEvent (IHE BALP shape) for every access, on a Merkle log."""
