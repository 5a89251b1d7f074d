"""Documents: upload and checks, versions, content-addressed storage, download."""
