"""The versioned FHIR resource store, its validation, search index and /fhir API."""
