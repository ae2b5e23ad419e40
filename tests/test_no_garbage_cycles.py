"""Deciding an event must leave no reference cycles behind.

A replay decides hundreds of thousands of events; everything one event creates should be freed by
reference counting the moment it is done. A cycle (typically an exception kept with its traceback,
whose frames point back at the keeper) survives until the cyclic collector runs, takes the event's
objects with it, and made replay 2.5 times slower once. This test finds such a cycle deterministically.
"""

from __future__ import annotations

import copy
import gc

import pytest

from chalicelib.baseline import load_baseline
from chalicelib.pipeline import OfflineAws, process
from tests.conftest import SAMPLE_EVENTS, load_sample

BASELINE = load_baseline()


def _garbage_after(events: list[object], mode: str) -> int:
    aws = OfflineAws()
    for event in events:  # warm: first-use caches and lazily built validators are not garbage
        process(copy.deepcopy(event), BASELINE, mode, aws)  # type: ignore[arg-type]
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            for event in events:
                process(copy.deepcopy(event), BASELINE, mode, aws)  # type: ignore[arg-type]
        return gc.collect()
    finally:
        gc.enable()


@pytest.mark.parametrize("mode", ["dry-run", "enforce"])
def test_deciding_the_samples_leaves_no_cycles(mode: str) -> None:
    events = [load_sample(name) for name in SAMPLE_EVENTS]
    assert _garbage_after(events, mode) == 0


def test_deciding_an_invalid_event_leaves_no_cycles() -> None:
    broken = load_sample("authorize-ingress-all-traffic-world.json")
    broken["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["fromPort"] = "twenty-two"
    assert _garbage_after([broken, {"detail": None}, ["not", "an", "event"]], "dry-run") == 0
