"""SNS: publish one message, JSON-structured so each kind of subscriber gets the form it can use."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.adapters import clients


def _region(topic_arn: str) -> str | None:
    return topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else None


def publish(
    topic_arn: str,
    subject: str,
    message_json: str,
    attributes: Mapping[str, str],
    arrays: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Publish and return the MessageId. Errors propagate: a message that did not go out must fail the
    invocation so that Lambda retries it. Empty attributes are left out (SNS refuses empty values)."""
    message_attributes: dict[str, Any] = {
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
    }
    for name, values in (arrays or {}).items():
        if values:
            message_attributes[name] = {"DataType": "String.Array", "StringValue": json.dumps(list(values))}
    response = clients.sns(_region(topic_arn)).publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=message_json,
        MessageStructure="json",
        MessageAttributes=message_attributes,
    )
    return response["MessageId"]


def publish_plain(topic_arn: str, message: str) -> str:
    """Publish one body for every subscriber (the chat integration reads the body as its JSON)."""
    response = clients.sns(_region(topic_arn)).publish(TopicArn=topic_arn, Message=message)
    return response["MessageId"]
