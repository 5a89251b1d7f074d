"""Circuits: YAML definitions, their strict checking, and the pure state-machine engine."""
