"""One root error with a few meaningful subclasses.

Every message says what was wrong and, where it can, how to fix it.
"""


class TripguardError(Exception):
    """Root of every error tripguard raises on purpose."""


class ContractError(TripguardError):
    """A message breaks event contract v1. `field` names the offending field, `rule` the rule."""

    def __init__(self, field: str, rule: str):
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" if field else rule)


class ConfigError(TripguardError):
    """Bad configuration: a tariff or city table, a settings value, a missing file."""


class InputError(TripguardError):
    """An input file cannot be read (missing, unreadable, unknown format, bad columns)."""


class BrokerError(TripguardError):
    """A one-shot command (`topics create`, `produce`, `tail`) could not talk to the Kafka broker."""


class CurrencyMismatch(TripguardError):
    """A claimed fare's currency differs from the city's tariff currency."""
