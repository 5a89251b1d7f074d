"""`parapheur verify`: offline, bulk verification of signed PDFs for auditors (no database, no server)."""
