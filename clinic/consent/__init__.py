"""Granular consent (DESIGN.md section 5): versioned forms, Consent resources,
withdrawal, and the Consents the decision point reads."""
