"""Release to police only when the survivor chooses (docs/design.md section 7)."""
