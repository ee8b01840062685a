from __future__ import annotations

from pathlib import Path

import pytest

from tripguard.config.files import CityTables
from tripguard.fare.params import FareParams
from tripguard.fare.tariff import load_tariffs

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def porto_tariff():
    return load_tariffs()["porto"]


@pytest.fixture(scope="session")
def porto_params() -> FareParams:
    return CityTables.load().params(FareParams, "porto", "fare")


@pytest.fixture
def data_dir() -> Path:
    return DATA
