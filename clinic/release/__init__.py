"""Release to police only when the survivor chooses (DESIGN.md section 7)."""
