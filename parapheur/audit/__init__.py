"""The hash-chained audit journal: every state change writes one event in its own transaction."""
