"""Follow-up and the coordinated response (docs/design.md section 9): the care plan
proposed at sign-off, its schedule, and the counsellor's work on it."""
