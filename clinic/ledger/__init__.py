"""Append-only, tamper-evident logs (RFC 6962/9162 Merkle trees).

The audit trail appends here now; the custody log will append to a log of its own.
"""
