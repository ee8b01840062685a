"""The event contract's limits, defined once: the compiled ping decoder (jsonpings) checks them, and
tripguard.contract and the codec take them from here (kernels import nothing of tripguard)."""

MAX_ID_CHARS = 128  # trip_id, driver_id: 1..128 characters
# Integer milliseconds since the Unix epoch, UTC, bounded to 1970..2100 so that a seconds value or a
# microseconds value is rejected instead of silently misread.
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
MAX_PINGS_PER_MESSAGE = 10_000
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
