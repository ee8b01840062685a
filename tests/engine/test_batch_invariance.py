"""The core property: the engine's output is the same however the stream is cut into batches."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.streams import build_batches, comparable, make_stream
from tripguard.config.settings import Settings
from tripguard.engine.core import Engine


def run(batches):
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    alerts, verdicts = [], []
    for b in batches:
        out = engine.process(b)
        alerts += out.alerts
        verdicts += out.verdicts
    out = engine.flush()
    return alerts + out.alerts, verdicts + out.verdicts, engine


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 4000), max_size=60))
def test_output_identical_for_random_batch_cuts(seed, cuts):
    messages = make_stream(seed, n_trips=12)
    whole = comparable(*run(build_batches(messages, []))[:2])
    cut = comparable(*run(build_batches(messages, cuts))[:2])
    assert cut == whole


def test_one_ping_at_a_time_equals_one_batch():
    messages = make_stream(42, n_trips=20)
    whole_alerts, whole_verdicts, engine = run(build_batches(messages, []))
    single = run(build_batches(messages, list(range(len(messages)))))
    assert comparable(*single[:2]) == comparable(whole_alerts, whole_verdicts)
    # the stream exercised what makes this hard: late and duplicate fixes, spikes, a teleport,
    # trips without trip_started or trip_ended, duplicate events
    s = engine.stats
    assert s.dropped["late"] > 0 and s.dropped["duplicate"] > 0 and s.dropped["spike"] > 0
    assert s.dropped["invalid"] > 0 and s.duplicate_events > 0
    assert {v["ended_by"] for v in whole_verdicts} >= {"trip_ended", "end_of_input"}
    assert any(v["city"] == "unknown" for v in whole_verdicts)
    assert any(a["kind"] == "teleport" for a in whole_alerts)
    assert len(whole_verdicts) == 20
