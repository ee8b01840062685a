"""Shipped configuration and fixtures (installed as tripguard.data)."""
