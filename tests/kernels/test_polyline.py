"""The compiled polyline encoder against the pure-Python one (and Google's documented example)."""

import numpy as np
import pytest

from tests.kernels.polyline_ref import decode_integers, decode_polyline, encode_integers, encode_polyline
from tripguard.kernels import polyline as P
from tripguard.kernels.polyline import decode, encode


def test_google_example():
    assert (
        encode(np.array([38.5, 40.7, 43.252]), np.array([-120.2, -120.95, -126.453])) == "_p~iF~ps|U_ulLnnqC_mqNvxq`@"
    )


def test_matches_pure_python_on_random_paths():
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 17, 500):
        lat = rng.uniform(-90, 90, n)
        lon = rng.uniform(-180, 180, n)
        text = encode(lat, lon)
        assert text == encode_polyline(list(zip(lat, lon)))
        if n:
            np.testing.assert_allclose(decode_polyline(text), np.column_stack([lat, lon]), atol=6e-6)
    # trip-like: small steps, antimeridian, poles
    lat = np.concatenate([41.15 + np.cumsum(rng.normal(0, 1e-4, 300)), [89.99999, -89.99999, 0.0]])
    lon = np.concatenate([179.9999 + np.cumsum(rng.normal(0, 1e-4, 300)), [180.0, -180.0, -0.000004]])
    assert encode(lat, lon) == encode_polyline(list(zip(lat, lon)))
    # halves of the last unit: rounded half to even, as Python's round and numpy.round
    half = (np.arange(-2000, 2000) + 0.5) / 1e5
    assert encode(half, half[::-1].copy()) == encode_polyline(list(zip(half, half[::-1])))


def test_decode_matches_pure_python_and_rejects_what_it_rejects():
    rng = np.random.default_rng(1)
    for n in (1, 2, 40):
        text = encode(rng.uniform(-90, 90, n), rng.uniform(-180, 180, n))
        np.testing.assert_array_equal(decode(text), decode_polyline(text))
    assert decode("").shape == (0, 2)
    for bad, reason in (
        ("_p~iF~ps|", "truncated"),
        ("_p~iF ~ps|U", "alphabet"),
        ("_p~iF~ps|Ué", "ASCII"),
        ("_" * 20, "too long"),
    ):
        with pytest.raises(ValueError, match=reason):
            decode(bad)


def test_integer_sequences_match_pure_python_and_reject_what_it_rejects():
    rng = np.random.default_rng(2)
    for values in ([], [0], [1_719_821_300, 1_719_821_315, 1_719_821_329], rng.integers(-(2**40), 2**40, 300)):
        text = P.encode_integers(values)
        assert text == encode_integers(values)
        assert P.decode_integers(text).tolist() == decode_integers(text) == [int(v) for v in values]
    for bad, reason in (("_p~iF~ps|", "truncated"), ("_p~iF ~ps", "alphabet"), ("_" * 20, "too long")):
        with pytest.raises(ValueError, match=reason):
            decode_integers(bad)
        with pytest.raises(ValueError, match=reason):
            P.decode_integers(bad)
