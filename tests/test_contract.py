"""Event contract v1: checked-in JSON Schemas match the models; the fast codec agrees with them."""

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tripguard.config.files import shipped_path
from tripguard.contract import Ping
from tripguard.errors import ContractError
from tripguard.io.codec import MOCK_UNKNOWN, PROVIDER_CODE, checked_ping_from_obj, ping_from_obj
from tripguard.offline.schemas import render_schemas

ROOT = Path(__file__).resolve().parent.parent


def test_checked_in_schemas_match_the_models():
    directory = shipped_path("schemas")
    for name, text in render_schemas().items():
        path = directory / name
        assert path.exists(), f"{name} missing: run `tripguard schemas --write`"
        assert path.read_text() == text, f"{name} drifted from the models: run `tripguard schemas --write`"


def test_no_top_level_kernels_module_is_installed():
    import importlib.util

    import tripguard.kernels

    assert Path(tripguard.kernels.__file__).parent == ROOT / "kernels"
    spec = importlib.util.find_spec("kernels")
    assert spec is None or Path(spec.origin).parent == ROOT / "kernels"  # only the checkout, via the rootdir


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from(["gps", "network", "fused", "satellite"]),
    st.lists(st.integers(), max_size=2),
)
good = {"trip_id": "t", "driver_id": "d", "ts": 1_700_000_000_000, "lat": 41.1, "lon": -8.6}
fields = ["trip_id", "driver_id", "ts", "lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", "provider", "mock"]


@settings(max_examples=3000, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(fields), values, max_size=3),
    drop=st.sets(st.sampled_from(fields), max_size=2),
)
def test_codec_accepts_exactly_what_the_model_accepts(changes, drop):
    obj = {**good, **changes}
    for f in drop:
        obj.pop(f, None)
    try:
        model = Ping.model_validate(obj)
    except ValidationError:
        model = None
    try:
        row = ping_from_obj(obj)
    except ContractError:
        row = None
    assert (model is None) == (row is None), (obj, model, row)
    try:  # the fast path and the field-by-field path accept the same pings, as the same rows
        checked = checked_ping_from_obj(obj)
    except ContractError:
        checked = None
    assert repr(checked) == repr(row), (obj, checked, row)
    if model is not None:
        assert (row.trip_id, row.driver_id, row.ts, row.lat, row.lon) == (
            model.trip_id,
            model.driver_id,
            model.ts,
            model.lat,
            model.lon,
        )
        for name in ("accuracy_m", "speed_mps", "bearing_deg"):
            want = getattr(model, name)
            got = getattr(row, name)
            assert (want is None and math.isnan(got)) or want == got
        assert row.provider == PROVIDER_CODE[model.provider]
        assert row.mock == (MOCK_UNKNOWN if model.mock is None else int(model.mock))


@pytest.mark.parametrize(
    "obj",
    [
        {**good, "lat": float("nan")},
        {**good, "lon": float("inf")},
        {**good, "ts": 1.5},
    ],
)
def test_non_finite_and_non_integer_rejected_by_both(obj):
    with pytest.raises(ValidationError):
        Ping.model_validate(obj)
    with pytest.raises(ContractError):
        ping_from_obj(obj)
