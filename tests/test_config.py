"""City parameters through config.validated (pydantic, config PARAMS): what today's files hold
loads as before, and a bad table is one ConfigError naming the file, [city.section] and key."""

from __future__ import annotations

import pytest

from tripguard.config.files import CityTables
from tripguard.detectors.kinematics import KinematicsParams
from tripguard.detectors.route import RouteParams
from tripguard.errors import ConfigError


def _load(tmp_path, text: str, cls=KinematicsParams, section: str = "kinematics"):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return CityTables.load(path).params(cls, "porto", section)


def test_an_int_stands_for_a_float_and_becomes_one(tmp_path):
    p = _load(tmp_path, "[porto.kinematics]\nmax_speed_mps = 50\n")
    assert p.max_speed_mps == 50.0 and type(p.max_speed_mps) is float
    assert type(p.confirm_fixes) is int


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[porto.kinematics]\nmax_sped_mps = 50.0\n", ["unknown key max_sped_mps", "known: ", "max_speed_mps"]),
        ("[porto.kinematics]\nmax_speed_mps = true\n", ["max_speed_mps: ", "got True"]),
        ("[porto.kinematics]\nconfirm_fixes = 3.0\n", ["confirm_fixes: ", "got 3.0"]),
        ('[porto.kinematics]\nwarmup_s = "60"\n', ["warmup_s: ", "got '60'"]),
    ],
)
def test_bad_values_name_file_table_and_key(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    message = str(err.value)
    assert "c.toml [porto.kinematics]: " in message
    assert all(w in message for w in words), message


def test_a_missing_key_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[default.route]\nring = 2\n")
    tables = CityTables(CityTables.load(path).tables, "c.toml")
    del tables.tables["default"]["route"]["h3_res"]
    with pytest.raises(ConfigError, match=r"c.toml \[porto.route\]: missing key h3_res"):
        tables.params(RouteParams, "porto", "route")
