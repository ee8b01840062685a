"""tripguard: real-time GPS trip-fraud analyzer."""

__version__ = "0.1.0"
