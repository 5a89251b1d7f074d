"""Archival refresh of B-LTA documents: a new document time stamp before the newest one stops proving."""
