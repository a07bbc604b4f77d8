"""Evidence kits and items (FHIR Specimen), their chain of custody and its log."""
