"""The score and the patterns on hand-made histories: one ambiguous alert stays low, repeated
evidence climbs, decisions move the score the way reviewers said, patterns fire when they should
and not on honest spread."""

from __future__ import annotations

import numpy as np

from tests.risk.helpers import MIN, T0, decision, raw, verdict
from tripguard.config.files import CityTables
from tripguard.risk.stage import DECISION, VERDICT, Input, RiskStage, parse

LATENESS = 0


def stage() -> RiskStage:
    return RiskStage(CityTables.load(), ["s"], LATENESS)


def feed(st: RiskStage, *records: dict) -> list[dict]:
    events = []
    for r in records:
        kind = DECISION if "decision" in r else VERDICT
        out = st.add(Input(kind, parse(kind, raw(r)), None, "s"))
        assert not out.rejected, out.rejected
        events += out.events
    return events + st.flush().events


def trips(driver: str, n: int, every_ms: int = 40 * MIN, **kinds_at) -> list[dict]:
    """n trips of 20 min, one every `every_ms`; kinds_at: {"k3": ("teleport",)} puts kinds on trip 3."""
    return [
        verdict(f"{driver}-t{i}", driver, T0 + i * every_ms, T0 + i * every_ms + 20 * MIN, kinds_at.get(f"k{i}", ()))
        for i in range(n)
    ]


def test_one_ambiguous_alert_stays_low_and_repeated_evidence_climbs():
    for kind in ("route_deviation", "teleport", "fare_inflation"):
        st = stage()
        assert feed(st, *trips("d", 10, k9=(kind,))) == []  # no event: the level stays low
        assert st.assess("d").level == "low"
    st = stage()
    events = feed(
        st,
        *trips(
            "d", 12, k2=("fare_inflation",), k5=("fare_inflation",), k8=("fare_inflation",), k11=("fare_inflation",)
        ),
    )
    assert [e["level"] for e in events][-1] == "high"
    assert events[-1]["evidence"]["kinds"] == [{"kind": "fare_inflation", "trips": 4, "precision": 0.95}]
    assert events[-1]["windows"]["30d"]["alerts"] == {"fare_inflation": 4}


def test_the_first_trips_of_a_new_driver_do_not_condemn_them():
    st = stage()
    feed(st, verdict("x-1", "x", T0, T0 + 20 * MIN, ("gps_spoofing",)))
    assert st.assess("x").level == "low"  # one trip, one alert: the prior outweighs it


def test_upheld_raises_and_overturned_lowers():
    base = trips("d", 15, k3=("teleport",), k7=("teleport",))
    scores = {}
    for outcome in (None, "upheld", "overturned"):
        st = stage()
        ds = (
            []
            if outcome is None
            else [
                decision(base[3], outcome, T0 + 15 * 40 * MIN, 1),
                decision(base[7], outcome, T0 + 15 * 40 * MIN + 1, 2),
            ]
        )
        feed(st, *base, *ds)
        scores[outcome] = st.assess("d", T0 + 16 * 40 * MIN).score
    assert scores["upheld"] > scores[None] > scores["overturned"]
    st = stage()
    feed(st, *base, decision(base[3], "overturned", T0 + 15 * 40 * MIN))
    # an overturned trip's alerts count for nothing: one teleport left
    st2 = stage()
    feed(st2, *trips("d", 15, k7=("teleport",)))
    assert st.assess("d", T0 + 16 * 40 * MIN).score == st2.assess("d", T0 + 16 * 40 * MIN).score


def test_evidence_decays_with_age():
    st = stage()
    feed(st, *trips("d", 12, k1=("fare_inflation",), k2=("fare_inflation",), k3=("fare_inflation",)))
    now = st.histories["d"].newest_ts
    later = [st.assess("d", now + days * 86_400_000).score for days in (0, 7, 14, 29)]
    assert later == sorted(later, reverse=True) and later[0] > later[-1]
    assert st.assess("d", now + 31 * 86_400_000).score < later[-1]  # out of the 30-day window


def test_a_trip_overlapping_another_far_away_is_two_places_at_once():
    st = stage()
    own = verdict("a-1", "a", T0, T0 + 30 * MIN)
    # someone else drives on the account 8 km away, at the same time
    lent = verdict(
        "a-2",
        "a",
        T0 + 5 * MIN,
        T0 + 25 * MIN,
        track=[((T0 + 5 * MIN) / 1000 + 30 * i, 41.22, -8.61 + 0.0004 * i) for i in range(40)],
    )
    feed(st, own, lent, *[verdict(f"a-{i}", "a", T0 + i * 40 * MIN, T0 + i * 40 * MIN + 20 * MIN) for i in range(3, 9)])
    patterns = {p["pattern"]: p for p in st.assess("a").evidence["patterns"]}
    assert set(patterns) == {"overlapping_trips", "two_places_at_once"}
    assert sorted(patterns["two_places_at_once"]["trip_ids"]) == ["a-1", "a-2"]
    assert patterns["two_places_at_once"]["detail"]["max_apart_m"] > 7000
    assert patterns["overlapping_trips"]["detail"]["max_overlap_s"] == 20 * 60


def test_overlap_nearby_is_not_two_places_and_back_to_back_trips_are_nothing():
    st = stage()
    one = verdict("b-1", "b", T0, T0 + 30 * MIN)
    near = verdict("b-2", "b", T0 + 5 * MIN, T0 + 25 * MIN)  # the same street
    after = verdict("b-3", "b", T0 + 30 * MIN + 59_000, T0 + 50 * MIN)  # the next trip, 1 min later
    feed(st, one, near, after)
    assert [p["pattern"] for p in st.assess("b").evidence["patterns"]] == ["overlapping_trips"]
    st = stage()
    feed(st, one, verdict("b-4", "b", T0 + 30 * MIN - 60_000, T0 + 50 * MIN))  # 1 min of overlap: a late trip_ended
    assert st.assess("b").evidence["patterns"] == []


def test_repeated_inflation_fires_on_a_skimmer_and_not_on_honest_spread():
    rng = np.random.default_rng(3)
    p = CityTables.load().params(
        __import__("tripguard.risk.params", fromlist=["RiskParams"]).RiskParams, "porto", "risk"
    )
    st = stage()
    honest = [
        verdict(f"h-{i}", "h", T0 + i * 40 * MIN, T0 + i * 40 * MIN + 20 * MIN, fare_ratio=float(rng.normal(1.0, 0.03)))
        for i in range(40)
    ]
    skims = [
        verdict(
            f"s-{i}",
            "s",
            T0 + i * 40 * MIN,
            T0 + i * 40 * MIN + 20 * MIN,
            fare_ratio=p.inflation_fare_ratio + 0.02 if i % 2 else 1.0,
        )
        for i in range(20)
    ]
    feed(st, *honest, *skims)
    assert st.assess("h").evidence["patterns"] == []
    (found,) = st.assess("s").evidence["patterns"]
    assert found["pattern"] == "repeated_fare_inflation" and found["detail"]["trips"] == 10
    assert found["detail"]["p_honest"] <= p.inflation_max_p
    assert st.assess("s").level == "high"


def test_the_score_only_assessment_gives_the_explained_score():
    """explain=False skips what only the explanation needs: the score and level are the same, at
    the newest event time (the window is the whole history) and at others (a part of it)."""
    st = stage()
    base = trips("d", 16, k2=("fare_inflation",), k5=("teleport",), k9=("route_deviation",))
    skims = [
        verdict(f"d-s{i}", "d", T0 + i * 40 * MIN + 5 * MIN, T0 + i * 40 * MIN + 25 * MIN, fare_ratio=1.5)
        for i in range(0, 16, 3)
    ]  # each overlaps a trip of `base`, and together they inflate fares
    feed(
        st,
        *base,
        *skims,
        decision(base[5], "overturned", T0 + 17 * 40 * MIN),
        decision(base[9], "upheld", T0 + 18 * 40 * MIN),
    )
    explained = st.assess("d")
    assert {p["pattern"] for p in explained.evidence["patterns"]} >= {"overlapping_trips", "repeated_fare_inflation"}
    now = st.histories["d"].newest_ts
    for at in (now, now - 5 * 40 * MIN, now + 86_400_000, now + 29 * 86_400_000, now + 31 * 86_400_000):
        only, full = st.assess("d", at, explain=False), st.assess("d", at)
        assert (only.score, only.level) == (full.score, full.level)
        assert only.windows == only.evidence == only.model == {}
