"""Errors the review service maps to HTTP statuses (app.py)."""

from tripguard.errors import TripguardError


class NotFound(TripguardError):
    """404: the trip, dispute or token does not exist."""


class Conflict(TripguardError):
    """409: the request contradicts the state (second open dispute, second decision)."""
