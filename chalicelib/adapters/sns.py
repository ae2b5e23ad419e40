"""SNS: publish one message, JSON-structured so each kind of subscriber gets the form it can use."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.adapters import clients


def publish(
    topic_arn: str,
    subject: str,
    message_json: str,
    attributes: Mapping[str, str],
) -> str:
    """Publish and return the MessageId. Errors propagate: a message that did not go out must fail the
    invocation so that Lambda retries it."""
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else None
    response = clients.sns(region).publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=message_json,
        MessageStructure="json",
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
        },
    )
    return response["MessageId"]
