"""Ping messages (JSON, event contract v1) decoded into columns, many messages per call, compiled.

The per-message path (tripguard.io.codec: orjson, then the contract's rules in Python) costs a few
microseconds a ping; this kernel reads a whole buffer of messages -- a file's lines or a Kafka
fetch's values, each a [start, end) span of one uint8 array -- and writes the pings it accepts
straight into column arrays. It accepts only messages it can decide exactly as the per-message
path does; every other message is *deferred* (status DEFER) and goes through the per-message
path, which accepts it or names the broken rule. So the fast path never invents a reason, and a
property test (tests/test_columnar_decode.py) holds the two paths to the same rows and the same
dead letters.

Accepted here: a ping object, or a non-empty array (at most MAX_PINGS_PER_MESSAGE) of ping objects of one
trip and one driver, with JSON whitespace anywhere JSON allows it, where
- strings are printable ASCII without escapes (anything else -- a backslash, a control or a
  non-ASCII byte -- defers: its length in characters and its value need the full decoder);
- trip_id and driver_id are 1..MAX_ID_CHARS characters; ts an integer in [0, MAX_TS_MS]; lat,
  lon, accuracy_m, speed_mps, bearing_deg numbers in their ranges (optional ones may be null);
  provider one of gps, network, fused or null; mock true, false or null;
- each known field appears at most once; unknown fields carry a string, number, true, false or
  null (an object or an array there defers);
- numbers follow JSON's grammar and are exactly representable by one correctly rounded IEEE
  operation: at most 18 significant digits, integer part x 10^e with the mantissa <= 2^53 and
  |e| <= 22 (Clinger's fast path: both factors are exact doubles, so one multiplication or
  division rounds exactly as orjson's parser does). Longer numbers defer.
Compiled without fastmath (`njit_exact`): reciprocal approximation would change the division.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._jit import njit_exact
from ._types import F64, I8, I64, U8, Bool
from .limits import MAX_ID_CHARS, MAX_MESSAGE_BYTES, MAX_PINGS_PER_MESSAGE, MAX_TS_MS

OK, DEFER = 1, 0
MIN_PING_BYTES = 54  # {"trip_id":"a","driver_id":"b","ts":0,"lat":0,"lon":0}: bounds the rows a buffer holds
MOCK_UNKNOWN = -1

# known keys, by index: the bit of `seen` each sets
K_TRIP, K_DRIVER, K_TS, K_LAT, K_LON, K_ACC, K_SPEED, K_BEARING, K_PROVIDER, K_MOCK, K_OTHER = range(11)
_KEYS = [
    b"trip_id",
    b"driver_id",
    b"ts",
    b"lat",
    b"lon",
    b"accuracy_m",
    b"speed_mps",
    b"bearing_deg",
    b"provider",
    b"mock",
]
_KEY_BYTES = np.zeros((len(_KEYS), 12), np.uint8)
_KEY_LEN = np.zeros(len(_KEYS), np.int64)
for _k, _name in enumerate(_KEYS):
    _KEY_BYTES[_k, : len(_name)] = np.frombuffer(_name, np.uint8)
    _KEY_LEN[_k] = len(_name)
_REQUIRED = (1 << K_TRIP) | (1 << K_DRIVER) | (1 << K_TS) | (1 << K_LAT) | (1 << K_LON)
_PROVIDERS = np.zeros((3, 8), np.uint8)  # gps, network, fused -> codes 1, 2, 3 (codec.PROVIDER_CODE)
_PROVIDER_LEN = np.array([3, 7, 5], np.int64)
for _k, _name in enumerate((b"gps", b"network", b"fused")):
    _PROVIDERS[_k, : len(_name)] = np.frombuffer(_name, np.uint8)
_POW10 = np.array([10.0**k for k in range(23)], np.float64)  # 1e0 .. 1e22: all exact doubles
_MAX_EXACT_MANTISSA = 2**53


def _pack(word: bytes) -> tuple[int, int]:
    """A key of up to 16 ASCII bytes as two little-endian words (how the kernel compares keys)."""
    word = word.ljust(16, b"\0")
    return int.from_bytes(word[:8], "little"), int.from_bytes(word[8:16], "little")


_KA = np.array([_pack(k)[0] for k in _KEYS], np.uint64)
_KB = np.array([_pack(k)[1] for k in _KEYS], np.uint64)
_PROVIDER_WORDS = np.array([_pack(w)[0] for w in (b"gps", b"network", b"fused")], np.uint64)

# value kinds
_V_FAIL, _V_STR, _V_INT, _V_FLOAT, _V_TRUE, _V_FALSE, _V_NULL = range(7)


@njit_exact
def _key_index(ka: np.uint64, kb: np.uint64, n: int) -> int:
    """Which known key the packed bytes are (K_OTHER for none). Scalars only: a helper that takes
    an array pays its reference counting on every call, so the kernel below calls none."""
    for k in range(_KEY_LEN.shape[0]):
        if _KEY_LEN[k] == n and _KA[k] == ka and _KB[k] == kb:
            return k
    return K_OTHER


@njit_exact
def _provider_index(va: np.uint64, n: int) -> int:
    if n > 8:
        return -1
    for k in range(3):
        if _PROVIDER_LEN[k] == n and _PROVIDER_WORDS[k] == va:
            return k + 1
    return -1


@njit_exact
def _exact_float(mant: int, e10: int, neg: bool) -> float:
    """mant x 10^e10 when one IEEE operation gives it correctly rounded (Clinger), else NaN."""
    if mant == 0:
        f = 0.0
    elif mant > _MAX_EXACT_MANTISSA:
        return np.nan
    elif e10 == 0:
        f = float(mant)
    elif 0 < e10 <= 22:
        f = float(mant) * _POW10[e10]
    elif -22 <= e10 < 0:
        f = float(mant) / _POW10[-e10]
    else:
        return np.nan
    return -f if neg else f


@njit_exact
def _decode(
    buf: U8,
    starts: I64,
    ends: I64,
    status: I8,
    row0: I64,
    n_rows: I64,
    id_spans: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    acc: F64,
    speed: F64,
    bearing: F64,
    provider: I8,
    mock: I8,
) -> int:
    """One function with its loops written out (see _key_index for why)."""
    cap = ts.shape[0]
    row = 0
    for m in range(starts.shape[0]):
        start, end = starts[m], ends[m]
        status[m] = DEFER
        row0[m] = row
        n_rows[m] = 0
        if end - start > MAX_MESSAGE_BYTES or end - start <= 0:
            continue
        i = start
        while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
            i += 1
        if i >= end:
            continue
        first = row
        in_array = False
        if buf[i] == 91:  # '['
            in_array = True
            i += 1
            while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                i += 1
        ok = False
        t_lo = t_hi = d_lo = d_hi = -1
        while True:  # the ping objects
            if i >= end or buf[i] != 123 or row >= cap or row - first >= MAX_PINGS_PER_MESSAGE:
                break
            i += 1
            seen = 0
            acc[row] = np.nan
            speed[row] = np.nan
            bearing[row] = np.nan
            provider[row] = 0
            mock[row] = MOCK_UNKNOWN
            o_tlo = o_thi = o_dlo = o_dhi = -1
            good = False
            while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                i += 1
            while True:  # the fields
                # -- key: a string without escapes, packed into two words
                if i >= end or buf[i] != 34:
                    break
                i += 1
                klo = i
                ka = np.uint64(0)
                kb = np.uint64(0)
                plain = True
                while i < end:
                    c = buf[i]
                    if c == 34:
                        break
                    if c == 92 or c < 32 or c >= 128:
                        plain = False
                        break
                    k = i - klo
                    if k < 8:
                        ka |= np.uint64(c) << np.uint64(8 * k)
                    elif k < 16:
                        kb |= np.uint64(c) << np.uint64(8 * (k - 8))
                    i += 1
                if not plain or i >= end:
                    break
                key = _key_index(ka, kb, i - klo)
                i += 1
                while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                    i += 1
                if i >= end or buf[i] != 58:  # ':'
                    break
                i += 1
                while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                    i += 1
                if key != K_OTHER:
                    if seen & (1 << key):
                        break  # a repeated field: the last one wins in JSON decoders; leave it to them
                    seen |= 1 << key
                if i >= end:
                    break
                # -- value: one token, whatever the key
                vk = _V_FAIL
                vlo = vhi = 0
                va = np.uint64(0)
                iv = 0
                fv = 0.0
                c = buf[i]
                if c == 34:  # a string
                    i += 1
                    vlo = i
                    while i < end:
                        c = buf[i]
                        if c == 34:
                            break
                        if c == 92 or c < 32 or c >= 128:
                            break
                        k = i - vlo
                        if k < 8:
                            va |= np.uint64(c) << np.uint64(8 * k)
                        i += 1
                    if i < end and buf[i] == 34:
                        vhi = i
                        vk = _V_STR
                        i += 1
                elif c == 116:  # true
                    if i + 4 <= end and buf[i + 1] == 114 and buf[i + 2] == 117 and buf[i + 3] == 101:
                        vk = _V_TRUE
                        i += 4
                elif c == 102:  # false
                    if (
                        i + 5 <= end
                        and buf[i + 1] == 97
                        and buf[i + 2] == 108
                        and buf[i + 3] == 115
                        and buf[i + 4] == 101
                    ):
                        vk = _V_FALSE
                        i += 5
                elif c == 110:  # null
                    if i + 4 <= end and buf[i + 1] == 117 and buf[i + 2] == 108 and buf[i + 3] == 108:
                        vk = _V_NULL
                        i += 4
                else:  # a number, by JSON's grammar
                    neg = False
                    if c == 45:
                        neg = True
                        i += 1
                    mant = 0
                    sig = 0
                    digits_ok = True
                    if i < end and buf[i] == 48:  # '0': no more integer digits (no leading zeros)
                        i += 1
                    elif i < end and 49 <= buf[i] <= 57:
                        while i < end and 48 <= buf[i] <= 57:
                            if sig < 18:
                                mant = mant * 10 + (buf[i] - 48)
                            sig += 1
                            i += 1
                    else:
                        digits_ok = False
                    frac = 0
                    is_int = True
                    if digits_ok and i < end and buf[i] == 46:  # '.'
                        is_int = False
                        i += 1
                        if i >= end or not 48 <= buf[i] <= 57:
                            digits_ok = False
                        while i < end and 48 <= buf[i] <= 57:
                            d = buf[i] - 48
                            if sig > 0 or d > 0:
                                sig += 1
                            if sig <= 18:
                                mant = mant * 10 + d
                                frac += 1
                            i += 1
                    exp = 0
                    if digits_ok and i < end and (buf[i] == 101 or buf[i] == 69):  # 'e' 'E'
                        is_int = False
                        i += 1
                        eneg = False
                        if i < end and (buf[i] == 43 or buf[i] == 45):
                            eneg = buf[i] == 45
                            i += 1
                        if i >= end or not 48 <= buf[i] <= 57:
                            digits_ok = False
                        while i < end and 48 <= buf[i] <= 57:
                            if exp < 100_000:
                                exp = exp * 10 + (buf[i] - 48)
                            i += 1
                        if eneg:
                            exp = -exp
                    if digits_ok and sig <= 18:  # more digits: the full decoder's job
                        if is_int:
                            iv = -mant if neg else mant  # "-0" is the integer 0, as orjson reads it
                            fv = float(iv)
                            vk = _V_INT
                        else:
                            fv = _exact_float(mant, exp - frac, neg)
                            if fv == fv:
                                vk = _V_FLOAT
                if vk == _V_FAIL:
                    break
                # -- the contract's rule for the key
                number = vk == _V_INT or vk == _V_FLOAT
                if key == K_TRIP or key == K_DRIVER:
                    if vk != _V_STR or not 1 <= vhi - vlo <= MAX_ID_CHARS:
                        break
                    if key == K_TRIP:
                        o_tlo, o_thi = vlo, vhi
                    else:
                        o_dlo, o_dhi = vlo, vhi
                elif key == K_TS:
                    if vk != _V_INT or not 0 <= iv <= MAX_TS_MS:
                        break
                    ts[row] = iv
                elif key == K_LAT:
                    if not number or not -90.0 <= fv <= 90.0:
                        break
                    lat[row] = fv
                elif key == K_LON:
                    if not number or not -180.0 <= fv <= 180.0:
                        break
                    lon[row] = fv
                elif key == K_ACC or key == K_SPEED or key == K_BEARING:
                    if vk != _V_NULL:
                        if not number or not fv >= 0.0 or (key == K_BEARING and not fv < 360.0):
                            break
                        if key == K_ACC:
                            acc[row] = fv
                        elif key == K_SPEED:
                            speed[row] = fv
                        else:
                            bearing[row] = fv
                elif key == K_PROVIDER:
                    if vk == _V_STR:
                        code = _provider_index(va, vhi - vlo)
                        if code < 0:
                            break
                        provider[row] = code
                    elif vk != _V_NULL:
                        break
                elif key == K_MOCK:
                    if vk == _V_TRUE:
                        mock[row] = 1
                    elif vk == _V_FALSE:
                        mock[row] = 0
                    elif vk != _V_NULL:
                        break
                # (an unknown key: any scalar is ignored, as the contract ignores unknown fields)
                while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                    i += 1
                if i < end and buf[i] == 44:  # ','
                    i += 1
                    while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                        i += 1
                    continue
                if i < end and buf[i] == 125:  # '}'
                    i += 1
                    good = seen & _REQUIRED == _REQUIRED
                break
            if not good:
                break
            if row == first:
                t_lo, t_hi, d_lo, d_hi = o_tlo, o_thi, o_dlo, o_dhi
            else:  # one message carries one trip of one driver
                same = o_thi - o_tlo == t_hi - t_lo and o_dhi - o_dlo == d_hi - d_lo
                k = 0
                while same and k < t_hi - t_lo:
                    same = buf[o_tlo + k] == buf[t_lo + k]
                    k += 1
                k = 0
                while same and k < d_hi - d_lo:
                    same = buf[o_dlo + k] == buf[d_lo + k]
                    k += 1
                if not same:
                    break
            row += 1
            if not in_array:
                ok = True
                break
            while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                i += 1
            if i < end and buf[i] == 44:
                i += 1
                while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                    i += 1
                continue
            if i < end and buf[i] == 93:  # ']'
                i += 1
                ok = True
            break
        if ok:
            while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
                i += 1
            ok = i == end  # anything after the value: not JSON
        if not ok:
            row = first
            continue
        status[m] = OK
        n_rows[m] = row - first
        id_spans[m, 0], id_spans[m, 1], id_spans[m, 2], id_spans[m, 3] = t_lo, t_hi, d_lo, d_hi
    return row


@njit_exact
def _intern(buf: U8, lo: I64, hi: I64, code: I64, first: I64) -> int:
    """Equal byte spans get equal codes 0, 1, ... in order of first appearance; first[c] is the
    span that introduced code c. Spans with lo < 0 get code -1. Returns the number of codes."""
    n = lo.shape[0]
    size = 16
    while size < 2 * n:
        size *= 2
    table = np.full(size, -1, np.int64)  # span index of each code's first span
    mask = size - 1
    n_codes = 0
    for i in range(n):
        if lo[i] < 0:
            code[i] = -1
            continue
        h = np.uint64(14695981039346656037)  # FNV-1a
        for k in range(lo[i], hi[i]):
            h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
        p = np.int64(h & np.uint64(mask))
        while True:
            j = table[p]
            if j < 0:
                table[p] = i
                code[i] = n_codes
                first[n_codes] = i
                n_codes += 1
                break
            same = hi[i] - lo[i] == hi[j] - lo[j]
            k = 0
            while same and k < hi[i] - lo[i]:
                same = buf[lo[i] + k] == buf[lo[j] + k]
                k += 1
            if same:
                code[i] = code[j]
                break
            p = (p + 1) & mask
    return n_codes


def _need(name: str, arr: Any, dtype: DTypeLike) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != 1:
        raise TypeError(f"{name} must be a 1-D {np.dtype(dtype).name} numpy array")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be contiguous: use np.ascontiguousarray({name})")


class DecodedPings:
    """What `decode` accepted: per message its status (OK or DEFER), its first row and row count,
    the [lo, hi) spans of its trip_id and driver_id in the buffer (the message's pings share
    them); per row the ping's columns (NaN for an absent optional number, provider 0 when absent,
    mock -1 when absent)."""

    __slots__ = (
        "status",
        "row0",
        "n_rows",
        "trip_lo",
        "trip_hi",
        "driver_lo",
        "driver_hi",
        "ts",
        "lat",
        "lon",
        "accuracy_m",
        "speed_mps",
        "bearing_deg",
        "provider",
        "mock",
    )
    status: I8
    row0: I64
    n_rows: I64
    trip_lo: I64
    trip_hi: I64
    driver_lo: I64
    driver_hi: I64
    ts: I64
    lat: F64
    lon: F64
    accuracy_m: F64
    speed_mps: F64
    bearing_deg: F64
    provider: I8
    mock: I8

    def __init__(self, **kw: NDArray[Any]) -> None:
        for k, v in kw.items():
            setattr(self, k, v)


@njit_exact
def _spans_inside(starts: I64, ends: I64, size: int) -> bool:
    for m in range(starts.shape[0]):
        if not 0 <= starts[m] <= ends[m] <= size:
            return False
    return True


def decode(buf: U8, starts: I64, ends: I64) -> DecodedPings:
    """Decode the messages buf[starts[m]:ends[m]] (uint8 buffer, int64 spans)."""
    _need("buf", buf, np.uint8)
    _need("starts", starts, np.int64)
    _need("ends", ends, np.int64)
    if starts.shape != ends.shape:
        raise ValueError("starts and ends must have the same length")
    n = starts.shape[0]
    if n and not _spans_inside(starts, ends, buf.shape[0]):
        raise ValueError("message spans must lie inside the buffer, start <= end")
    cap = buf.shape[0] // MIN_PING_BYTES + 1
    status = np.empty(n, np.int8)
    row0 = np.empty(n, np.int64)
    n_rows = np.empty(n, np.int64)
    spans = np.full((n, 4), -1, np.int64)
    cols = dict(
        ts=np.empty(cap, np.int64),
        lat=np.empty(cap),
        lon=np.empty(cap),
        accuracy_m=np.empty(cap),
        speed_mps=np.empty(cap),
        bearing_deg=np.empty(cap),
        provider=np.empty(cap, np.int8),
        mock=np.empty(cap, np.int8),
    )
    rows = _decode(buf, starts, ends, status, row0, n_rows, spans, *cols.values())
    bad = status != OK
    spans[bad] = -1
    return DecodedPings(
        status=status,
        row0=row0,
        n_rows=n_rows,
        trip_lo=np.ascontiguousarray(spans[:, 0]),
        trip_hi=np.ascontiguousarray(spans[:, 1]),
        driver_lo=np.ascontiguousarray(spans[:, 2]),
        driver_hi=np.ascontiguousarray(spans[:, 3]),
        **{k: v[:rows] for k, v in cols.items()},
    )


def intern(buf: U8, lo: I64, hi: I64) -> tuple[I64, I64]:
    """(code per span, index of the first span of each code): equal byte spans, equal codes;
    lo = -1 gives code -1."""
    _need("buf", buf, np.uint8)
    _need("lo", lo, np.int64)
    _need("hi", hi, np.int64)
    code = np.empty(lo.shape[0], np.int64)
    first = np.empty(lo.shape[0], np.int64)
    n = _intern(buf, lo, hi, code, first)
    return code, first[:n]


@njit_exact
def _lines(buf: U8, starts: I64, ends: I64) -> int:
    """Lines of a file as Python's binary line iteration gives them (split after b"\\n"), each
    with trailing \\r and \\n removed. Returns the number of lines."""
    n = 0
    start = 0
    size = buf.shape[0]
    for i in range(size):
        if buf[i] == 10:
            starts[n] = start
            ends[n] = i + 1
            n += 1
            start = i + 1
    if start < size:
        starts[n] = start
        ends[n] = size
        n += 1
    for k in range(n):
        e = ends[k]
        while e > starts[k] and (buf[e - 1] == 10 or buf[e - 1] == 13):
            e -= 1
        ends[k] = e
    return n


@njit_exact
def _count_newlines(buf: U8) -> int:
    n = 0
    for i in range(buf.shape[0]):
        if buf[i] == 10:
            n += 1
    return n


@njit_exact
def _blank(buf: U8, starts: I64, ends: I64, out: Bool) -> None:
    """bytes.strip() would leave nothing: ASCII whitespace only (space, \\t \\n \\r \\x0b \\x0c)."""
    for k in range(starts.shape[0]):
        b = True
        for i in range(starts[k], ends[k]):
            c = buf[i]
            if not (c == 32 or 9 <= c <= 13):
                b = False
                break
        out[k] = b


def lines(buf: U8) -> tuple[I64, I64, Bool]:
    """(starts, ends, blank) of the lines of a file's bytes: the spans `for line in open(path, "rb")`
    gives, trailing \\r\\n removed (as tripguard.io.inputs reads JSONL), and which are blank."""
    _need("buf", buf, np.uint8)
    n_max = _count_newlines(buf) + 1
    starts = np.empty(n_max, np.int64)
    ends = np.empty(n_max, np.int64)
    n = _lines(buf, starts, ends)
    starts, ends = starts[:n], ends[:n]
    blank = np.empty(n, np.bool_)
    _blank(buf, starts, ends, blank)
    return starts, ends, blank
