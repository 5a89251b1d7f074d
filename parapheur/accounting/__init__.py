"""Mandatement: mandats and bordereaux from certified invoices, PES V2 to Hélios and back."""
