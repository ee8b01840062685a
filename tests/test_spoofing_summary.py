"""The gps_spoofing alert's summary: a sentence a reviewer can read, naming every signal found."""

from tripguard.detectors.spoofing import _HALLMARK_WORDS, REGULARITY_WEIGHTS, describe


def test_every_regularity_hallmark_has_words():
    assert set(_HALLMARK_WORDS) == set(REGULARITY_WEIGHTS)


def test_each_signal_is_described_with_its_numbers():
    signals = {
        "mock_flag": {"mock_fixes": 40, "reported": 50, "fraction": 0.8},
        "device_speed_contradicts_positions": {"fraction": 0.62, "checks": 90},
        "too_regular": {
            "clockwork_intervals": {"repeated_fraction": 0.97, "intervals": 80},
            "constant_accuracy": {"accuracy_std_m": 0.0, "fixes": 81},
        },
    }
    text = describe(signals)
    assert "40 of 50 fixes as mock locations" in text
    assert "contradicts the distance between fixes in 62% of 90 checks" in text
    assert (
        "too regular for a phone: identical intervals between fixes (97%), an unchanging accuracy (spread 0.00 m)"
        in text
    )
    assert "_" not in text  # no internal signal names leak into the sentence


def test_constant_device_speed():
    text = describe({"device_speed_constant": {"device_speed_cv": 0.004, "position_speed_cv": 0.41, "checks": 60}})
    assert text == "the phone reported a near-constant speed (variation 0.40%) while the positions' speed varied by 41%"
