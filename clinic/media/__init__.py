"""Forensic photographs: capture at the exam, the encrypted vault, display copies,
intimate images, FHIR Media (docs/design.md section 8)."""
