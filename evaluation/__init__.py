"""Evaluation tooling that lives outside the tripguard package (not installed with it)."""
