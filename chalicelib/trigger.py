"""The EventBridge pattern: only calls that can need action invoke the function.

Refused calls (``errorCode`` present) changed nothing; other EC2 calls are not rule changes. Filtering
them in EventBridge costs nothing, where filtering them in the function costs an invocation each.
"""

from __future__ import annotations

from typing import Any

from chalicelib.events import CLOUDTRAIL_DETAIL_TYPE, EC2_EVENT_SOURCE, RULE_CHANGE_EVENTS

SECURITY_GROUP_RULE_CHANGES: dict[str, Any] = {
    "source": ["aws.ec2"],
    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
    "detail": {
        "eventSource": [EC2_EVENT_SOURCE],
        "eventName": sorted(RULE_CHANGE_EVENTS),
        "errorCode": [{"exists": False}],
    },
}
