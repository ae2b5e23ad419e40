"""Faults injected into sgguard's own boto3 clients through botocore's ``before-send`` hook.

The hook answers a chosen operation with an AWS error response *instead of sending the request*, at
the HTTP level, so botocore's retry logic (adaptive mode, MAX_ATTEMPTS) sees it exactly as it would
see AWS's answer: throttles are retried, access denials are not. Everything else still goes to moto.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _error_body(protocol: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    if protocol == "ec2":
        xml = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>fault</RequestID></Response>"
        )
        return xml.encode(), {}
    if protocol == "query":
        xml = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        return xml.encode(), {}
    body = json.dumps({"__type": code, "message": message}).encode()
    return body, {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}


@dataclass
class Fault:
    """Fail ``operation`` with ``code`` for the next ``times`` sends (None: for ever)."""

    operation: str
    code: str
    status: int
    message: str = "injected by the test"
    times: int | None = None
    sends: int = 0
    """How many requests for the operation reached the fault (each botocore retry is one more)."""
    failed: int = 0
    protocol: str = field(default="ec2")

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.sends += 1
        if self.times is not None and self.failed >= self.times:
            return None  # let it through to moto
        self.failed += 1
        url = request.url
        # botocore emits before-send to every handler and takes the first answer: moto's own handler runs
        # after this one, and must not recognise (and carry out) the request this fault answers.
        request.url = "https://fault-injected.invalid/"
        body, headers = _error_body(self.protocol, self.code, self.message)
        return AWSResponse(url, self.status, headers, _Raw(body))


def inject(client: Any, fault: Fault) -> Fault:
    service = client.meta.service_model.service_id.hyphenize()
    fault.protocol = client.meta.service_model.protocol
    client.meta.events.register_first(f"before-send.{service}.{fault.operation}", fault)
    return fault
