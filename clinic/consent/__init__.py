"""Granular consent (docs/design.md section 5): versioned forms, Consent resources,
withdrawal, and the Consents the decision point reads."""
