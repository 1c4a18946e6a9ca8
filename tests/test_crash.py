"""kill -9 during a write storm, on both backends: nothing acknowledged is lost (bench/crashtest.py).

The full harness runs many cycles (``make crashtest``); this is the same code with two.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench import crashtest

from tests.backends import POSTGRES_URL_VARIABLE, backend_params


@pytest.mark.slow
@pytest.mark.parametrize("backend", backend_params())
def test_sigkill_during_a_write_storm_loses_no_acknowledged_write(
    backend: str, tmp_path: Path
) -> None:
    report = crashtest.run(
        backend, tmp_path, cycles=2, clients=3, postgres_url=os.environ.get(POSTGRES_URL_VARIABLE)
    )
    assert len(report.cycles) == 3  # two SIGKILLs, then a clean restart that resends the rest
    assert report.acknowledged, "the storm wrote nothing, so it proved nothing"
    assert report.lost == []
    assert report.duplicated == []
    assert report.refused == []
    assert report.cycles[-1].unknown == 0  # every request cut off by a kill was answered later
