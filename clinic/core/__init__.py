"""Shared foundations: database, web base, time and canonical JSON helpers."""
