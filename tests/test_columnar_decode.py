"""The compiled columnar ping decoder against the per-message path: same rows, same dead letters.

tripguard.io.columnar.decode_ping_messages (the compiled decoder, with the per-message path for what
it defers) must give every message exactly what tripguard.io.codec.decode_pings gives it alone: the
same PingRows for a valid message (every field, bit for bit), the same ContractError text for an
invalid one. Messages are generated as JSON text, valid ones and mutations of them (spacing,
number spellings, escapes, repeated and unknown fields, wrong types, ranges, arrays that mix
trips, broken syntax, non-ASCII), so both the fast path and its fallback are exercised.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tripguard.errors import ContractError
from tripguard.io.codec import decode_pings
from tripguard.io.columnar import decode_ping_messages, join_values
from tripguard.kernels import jsonpings


def per_message(value: bytes | None):
    try:
        return decode_pings(value), None
    except ContractError as exc:
        return None, str(exc)


def columnar(values: list[bytes | None]):
    buf, starts, ends = join_values(values)

    def slow(m):
        return decode_pings(values[m])

    cols = decode_ping_messages(buf, starts, ends, slow)
    return [(cols.rows(m), None) if cols.valid[m] else (None, cols.errors[m]) for m in range(len(values))], cols


def bits(rows):
    """PingRows with floats as their bit patterns (NaN == NaN, -0.0 != 0.0)."""
    if rows is None:
        return None
    return [tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in r) for r in rows]


def assert_same(values):
    got, cols = columnar(values)
    for value, (rows, error) in zip(values, got):
        want_rows, want_error = per_message(value)
        assert error == want_error, value
        assert bits(rows) == bits(want_rows), value
    return cols


# ---- generated messages ---------------------------------------------------------------------------

ids = st.one_of(
    st.text(alphabet="abcdefXYZ-_0123456789", min_size=1, max_size=12),
    st.sampled_from(["", "x" * 128, "x" * 129, "té", "t\u00e9x", 'a"b', "a\\b", "tab\there"]),
)
numbers = st.one_of(
    st.floats(-200, 200, allow_nan=False),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-200, 200),
    st.integers(-(2**70), 2**70),
    st.sampled_from(
        [
            0.0,
            -0.0,
            41.1496221,
            -8.6109,
            1e-7,
            359.99999999999994,
            360.0,
            90.0,
            90.00000000000001,
            41.149622134567891,
            123456789012345678,
            1.5e300,
        ]
    ),
)
spellings = st.sampled_from(["{}", "{:.17g}", "{:e}", "{:E}", "{:.3f}", "{:.12e}", "{:.0f}"])
timestamps = st.one_of(
    st.integers(0, 4_102_444_800_000),
    st.integers(-5, 2**64),
    st.sampled_from([0, 4_102_444_800_000, 4_102_444_800_001, 1_717_398_001_332]),
)
optional = st.one_of(st.none(), numbers, st.booleans(), st.text(max_size=3))
spaces = st.sampled_from(["", " ", "  ", "\t", "\r\n ", "\n"])


def number_text(draw, value) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]))
    text = draw(spellings).format(value)
    return text if text not in ("inf", "-inf", "nan") else "0"


@st.composite
def ping_text(draw, trip="t1", driver="d1") -> str:
    fields = {
        "trip_id": orjson.dumps(trip).decode(),
        "driver_id": orjson.dumps(driver).decode(),
        "ts": str(draw(timestamps)),
        "lat": number_text(draw, draw(st.one_of(st.floats(-90, 90), numbers))),
        "lon": number_text(draw, draw(st.one_of(st.floats(-180, 180), numbers))),
    }
    for name in ("accuracy_m", "speed_mps", "bearing_deg"):
        if draw(st.booleans()):
            fields[name] = number_text(draw, draw(st.one_of(st.floats(0, 400), optional)))
    if draw(st.booleans()):
        fields["provider"] = orjson.dumps(draw(st.sampled_from(["gps", "network", "fused", None, "GPS", 3]))).decode()
    if draw(st.booleans()):
        fields["mock"] = orjson.dumps(draw(st.sampled_from([True, False, None, 0, "true"]))).decode()
    if draw(st.integers(0, 5)) == 0:  # unknown fields, scalar or nested
        fields[draw(st.sampled_from(["extra", "Lat", "trip_id2", "x" * 20]))] = draw(
            st.sampled_from(['"v"', "1", "true", "null", "[1]", '{"a":1}', '"\\u0041"', "-0.5e3"])
        )
    items = list(fields.items())
    mutation = draw(st.integers(0, 12))
    if mutation == 0 and items:  # a required field dropped
        items.pop(draw(st.integers(0, len(items) - 1)))
    elif mutation == 1:  # a field repeated (the last one wins in JSON)
        k, v = items[draw(st.integers(0, len(items) - 1))]
        items.append((k, draw(st.sampled_from([v, "1", '"x"', "null"]))))
    elif mutation == 2:  # a value of another type
        k = draw(st.sampled_from([k for k, _ in items]))
        items = [(n, draw(st.sampled_from(['"41.1"', "true", "null", "[]", "{}"])) if n == k else v) for n, v in items]
    elif mutation == 3:  # an escaped key that means a known one
        items = [('"l\\u0061t"'[1:-1] if n == "lat" else n, v) for n, v in items]
    draw(st.randoms()).shuffle(items)
    sp = draw(spaces)
    text = "{" + sp + ("," + sp).join(f'"{k}"{draw(spaces)}:{draw(spaces)}{v}' for k, v in items) + sp + "}"
    if mutation == 4:  # broken syntax
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", ",", "}", "x", "\x00", "é"])) + text[cut + 1 :]
    return text


@st.composite
def message_text(draw) -> bytes:
    trip, driver = draw(ids), draw(ids)
    kind = draw(st.integers(0, 9))
    if kind < 5:
        text = ping_text(trip, driver)
        text = draw(text)
    elif kind < 9:
        n = draw(st.integers(0, 4))
        other = draw(st.booleans()) and draw(st.integers(0, 8)) == 0
        parts = [draw(ping_text(trip if not (other and k == n - 1) else trip + "z", driver)) for k in range(n)]
        sp = draw(spaces)
        text = "[" + sp + ("," + sp).join(parts) + sp + ("," if draw(st.integers(0, 10)) == 0 else "") + "]"
    else:
        text = draw(st.sampled_from(["", " ", "null", "1", '"s"', "[]", "[1]", "{", "[{}]", "\ufeff{}", "tru"]))
    text = draw(spaces) + text + draw(spaces)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 30)) == 0:
        data = data[:-1] + b"\xff"  # invalid UTF-8
    return data


@settings(max_examples=400, deadline=None)
@given(values=st.lists(st.one_of(message_text(), st.none()), min_size=1, max_size=12))
def test_the_columnar_decoder_gives_the_per_message_rows_and_reasons(values):
    assert_same(values)


def test_the_fast_path_takes_the_common_shapes():
    """Plain messages are decoded by the compiled path itself, not its fallback."""
    ping = {
        "trip_id": "sim-000003",
        "driver_id": "drv-00004",
        "ts": 1717398001332,
        "lat": 41.136769,
        "lon": -8.566195,
        "accuracy_m": 7.7,
        "speed_mps": 0.67,
        "provider": "gps",
        "mock": False,
    }
    values = [
        orjson.dumps(ping),
        orjson.dumps([ping, {**ping, "ts": ping["ts"] + 4000}]),
        orjson.dumps({**ping, "bearing_deg": 359.9, "extra": [1, 2]}),  # nested unknown field: deferred
        b"not json",
    ]
    cols = assert_same(values)
    assert cols.fast == 2
    assert list(cols.valid) == [True, True, True, False]
    assert cols.errors[3].startswith("not valid UTF-8 JSON")


def test_numbers_are_read_bit_for_bit_as_orjson_reads_them():
    rng = np.random.default_rng(7)
    values = []
    for v in np.concatenate([rng.uniform(-90, 90, 3000), rng.normal(0, 1e-3, 500)]):
        for text in (repr(float(v)), f"{v:.6f}", f"{v:.15g}", f"{v:e}"):
            values.append(f'{{"trip_id":"t","driver_id":"d","ts":1,"lat":{text},"lon":{text}}}'.encode())
    cols = assert_same(values)
    assert cols.fast > len(values) * 0.7  # most spellings are exact in one IEEE operation


def test_message_size_limits_hold_on_the_fast_path():
    ping = b'{"trip_id":"t","driver_id":"d","ts":1,"lat":1,"lon":2}'
    values = [
        b"[" + b",".join([ping] * jsonpings.MAX_PINGS_PER_MESSAGE) + b"]",
        b"[" + b",".join([ping] * (jsonpings.MAX_PINGS_PER_MESSAGE + 1)) + b"]",
        b'{"trip_id":"t","driver_id":"d","ts":1,"lat":1,"lon":2,"pad":"' + b"x" * jsonpings.MAX_MESSAGE_BYTES + b'"}',
    ]
    cols = assert_same(values)
    assert list(cols.valid) == [True, False, False]


def test_lines_split_as_python_reads_a_binary_file(tmp_path):
    data = b"a\r\n\nb\r\r\n  \x0b\x0c\nlast"
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    want = [line.rstrip(b"\r\n") for line in open(path, "rb")]
    buf = np.frombuffer(data, np.uint8)
    starts, ends, blank = jsonpings.lines(buf)
    assert [data[a:b] for a, b in zip(starts, ends)] == want
    assert list(blank) == [not w.strip() for w in want]
