"""One small synthetic run and one small --from-real run per test session (the runs take about a
second each); tests read them back through the contract codec."""

from __future__ import annotations

import pytest

from tripguard.config.files import shipped_path
from tripguard.simulate.simulator import SimConfig, simulate

from .helpers import load_run


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim-synthetic")
    summary = simulate(SimConfig(out_dir=out, trips=180, seed=11, fraud_rate=0.5), progress=False)
    return out, summary


@pytest.fixture(scope="session")
def synthetic(synthetic_dir):
    return load_run(synthetic_dir[0])


@pytest.fixture(scope="session")
def real_sample_path():
    return shipped_path("porto/trips-sample.csv")


@pytest.fixture(scope="session")
def real_dir(tmp_path_factory, real_sample_path):
    out = tmp_path_factory.mktemp("sim-real")
    summary = simulate(SimConfig(out_dir=out, from_real=real_sample_path, seed=5, fraud_rate=0.6), progress=False)
    return out, summary


@pytest.fixture(scope="session")
def real(real_dir):
    return load_run(real_dir[0])
