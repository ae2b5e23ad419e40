"""NOTIFY_TOPIC: a topic name, made an ARN in the function's own account and region at run time."""

from __future__ import annotations

import pytest

from chalicelib.settings import ConfigError, Settings, topic_arn


def test_a_name_becomes_an_arn_in_the_functions_own_account_and_region() -> None:
    settings = Settings.from_env({"NOTIFY_TOPIC": "sgguard-notifications-prod"})
    asked: list[str] = []

    def own() -> str:
        asked.append("sts")
        return "444455556666"

    assert settings.notify_topic(own, "ap-southeast-2") == (
        "arn:aws:sns:ap-southeast-2:444455556666:sgguard-notifications-prod"
    )
    assert asked == ["sts"]


def test_an_arn_wins_and_needs_no_identity() -> None:
    arn = "arn:aws:sns:eu-west-1:111122223333:team"
    settings = Settings.from_env({"NOTIFY_TOPIC": "other", "NOTIFY_TOPIC_ARN": arn})

    def never() -> str:
        raise AssertionError("STS must not be asked")

    assert settings.notify_topic(never, None) == arn


def test_neither_is_none_and_an_unknown_identity_is_a_loud_error() -> None:
    assert Settings.from_env({}).notify_topic(lambda: "1", "eu-west-1") is None
    settings = Settings.from_env({"NOTIFY_TOPIC": "team"})
    with pytest.raises(ConfigError, match="own account or region is unknown"):
        settings.notify_topic(lambda: None, "eu-west-1")
    with pytest.raises(ConfigError, match="own account or region is unknown"):
        settings.notify_topic(lambda: "444455556666", None)


@pytest.mark.parametrize("bad", ["arn:aws:sns:eu-west-1:1:x", "a b", "x" * 257, "top\x00ic", "tópico"])
def test_a_name_that_cannot_be_a_topic_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="NOTIFY_TOPIC="):
        Settings.from_env({"NOTIFY_TOPIC": bad})


def test_partitions() -> None:
    assert topic_arn("t", "1" * 12, "cn-north-1").startswith("arn:aws-cn:sns:cn-north-1:")
    assert topic_arn("t", "1" * 12, "us-gov-west-1").startswith("arn:aws-us-gov:")
