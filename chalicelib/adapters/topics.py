"""SNS: is a topic there, and may it be published to? Asked before a run that will revoke
(`sgguard replay --mode enforce --notify`, `POST /replay?mode=enforce` under `chalice local`), with
the operator's own credentials, so that no rule is revoked when nobody could be told. The deployed
functions never ask: their policies do not grant sns:GetTopicAttributes.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import error_text


def region_of(topic_arn: str) -> str | None:
    return topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else None


def topic_problem(topic_arn: str) -> str | None:
    """Why a message could not be published to the topic (it does not exist, access is denied, AWS
    cannot be reached), or None. GetTopicAttributes answers for the topic itself; a publish that
    fails later (a changed topic policy) is still reported by the caller."""
    try:
        clients.sns(region_of(topic_arn)).get_topic_attributes(TopicArn=topic_arn)
    except (ClientError, BotoCoreError) as error:
        return error_text(error)
    return None
