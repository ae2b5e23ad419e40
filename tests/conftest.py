"""Shared test set-up. Fake credentials are set here, before anything imports boto3, so that no test
can reach a real AWS account by accident; every AWS call goes to moto."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = FIXTURES / "cloudtrail"
REGION = "eu-west-1"
ACCOUNT = "111122223333"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_ACCOUNT_ID": ACCOUNT,
        # app.py declares the organization sweep's consumer only where the stage names its queue (Chalice
        # applies the stage's variables before loading it); the tests load app.py once, without a stage
        "SWEEP_UNITS_QUEUE": "sgguard-sweep-units-prod",
    }
)
for leaked in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(leaked, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


SAMPLE_EVENTS = sorted(p.name for p in SAMPLES.glob("*.json") if p.name != "cloudtrail-log-file.json")


@pytest.fixture
def sample():
    return load_sample


@pytest.fixture
def world():
    """A small AWS world in moto (tests/moto_env.py), for tests that go through the handler."""
    from moto import mock_aws

    from tests.moto_env import build_world

    with mock_aws():
        yield from build_world()
