"""Break-glass: an examiner's time-limited emergency access to one case, stated
with a reason, listed on the case and reviewed by an auditor (docs/design.md
section 4a)."""
