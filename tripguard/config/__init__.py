"""Configuration, one pydantic-based system: `settings` (environment and CLI flags, the one frozen
Settings) and `files` (the shipped TOML of city parameters and tariffs, with override files)."""
