"""Administration pages: circuits (versions, activation) and the audit journal."""
