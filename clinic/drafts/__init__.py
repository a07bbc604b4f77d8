"""Drafts: what an examiner typed when her session had already ended, kept for her
alone until she signs in again."""
