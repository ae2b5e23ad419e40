"""`sgguard bootstrap`: create, or find, what `chalice deploy` cannot declare, with the operator's
credentials, so that `chalice deploy --stage S` works with no file edited.

Every step first looks, then acts only on a difference, and says which it did: a second run reports
everything ``found`` and changes nothing. The steps that need the deployed functions (the on-failure
destination and the permission to use it) are ``pending`` until `chalice deploy` has made them; the run
after it completes them.

This module runs only on the operator's machine: no module the Lambda functions run imports it, so the
functions' policies never grant what it calls (tests/test_deployment.py checks).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from chalicelib.deploy.stage import Stage
from chalicelib.org.unit_sweep import UNIT_RECEIVES

Action = Literal["created", "updated", "found", "pending", "would create", "would update"]

FAILED_EVENT_RETENTION = 1_209_600  # 14 days, SQS's maximum: time to read, fix and replay
DELIVERY_RETRIES = 2  # Lambda's asynchronous retries (the handler's DELIVERY_ATTEMPTS - 1)
MAX_EVENT_AGE = 21_600
SEND_POLICY = "sgguard-send-failed-events"


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    resource: str
    name: str
    detail: str = ""

    def to_json_dict(self) -> dict[str, str]:
        return asdict(self)


class BootstrapError(RuntimeError):
    """AWS refused a step; the message names the step and AWS's answer."""


@dataclass
class Bootstrap:
    """The steps for one stage, in one account and region (the session's)."""

    stage: Stage
    session: Any
    email: str | None = None
    dry_run: bool = False
    settle: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def run(self) -> Iterator[Step]:
        from botocore.exceptions import BotoCoreError, ClientError

        steps: list[Callable[[], Iterator[Step]]] = [
            self._topic,
            self._table,
            self._failed_events_queue,
            self._unit_queues,
            self._alarms,
            self._functions,
        ]
        for step in steps:
            try:
                yield from step()
            except (ClientError, BotoCoreError) as error:
                raise BootstrapError(_aws_error(error)) from error

    # --- what Chalice cannot declare ---------------------------------------------------------------

    def _would(self, exists: bool) -> Action:
        if self.dry_run:
            return "would update" if exists else "would create"
        return "updated" if exists else "created"

    def topic_arn(self) -> str | None:
        if self.stage.topic_name is None:
            return None
        from chalicelib.settings import topic_arn

        account = self.client("sts").get_caller_identity()["Account"]
        return topic_arn(self.stage.topic_name, account, self.session.region_name)

    def _topic(self) -> Iterator[Step]:
        arn = self.topic_arn()
        if arn is None:
            yield Step("pending", "sns topic", "-", "the stage sets no NOTIFY_TOPIC; set one and run again")
            return
        sns = self.client("sns")
        name = self.stage.topic_name or ""
        try:
            sns.get_topic_attributes(TopicArn=arn)
            yield Step("found", "sns topic", name, arn)
        except sns.exceptions.NotFoundException:
            if not self.dry_run:
                sns.create_topic(Name=name)
            yield Step(self._would(False), "sns topic", name, arn)
        if self.email:
            yield from self._subscription(arn, self.email)

    def _subscription(self, topic: str, email: str) -> Iterator[Step]:
        sns = self.client("sns")
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
        if any(
            s["Protocol"] == "email" and s["Endpoint"] == email
            for page in pages
            for s in page.get("Subscriptions", [])
        ):
            yield Step("found", "e-mail subscription", email)
            return
        if not self.dry_run:
            sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=email)
        yield Step(self._would(False), "e-mail subscription", email, "confirm it from the message AWS sends")

    def _table(self) -> Iterator[Step]:
        name = self.stage.table_name
        if name is None:
            yield Step("pending", "dynamodb table", "-", "the stage sets no IDEMPOTENCY_TABLE")
            return
        dynamodb = self.client("dynamodb")
        try:
            table = dynamodb.describe_table(TableName=name)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            table = None
        if table is not None:
            key = table.get("KeySchema")
            if key != [{"AttributeName": "event_id", "KeyType": "HASH"}]:
                raise BootstrapError(f"table {name} exists with another key ({key}); sgguard needs event_id")
            yield Step("found", "dynamodb table", name)
        else:
            if not self.dry_run:
                dynamodb.create_table(
                    TableName=name,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
                    SSESpecification={"Enabled": True},
                )
                dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 2})
            yield Step(self._would(False), "dynamodb table", name, "on demand, encrypted")
            if self.dry_run:
                yield Step("would create", "dynamodb ttl", name, "expires_at")
                return
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if (
            ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            and ttl.get("AttributeName") == "expires_at"
        ):
            yield Step("found", "dynamodb ttl", name, "expires_at")
            return
        if not self.dry_run:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
            )
        yield Step(self._would(False), "dynamodb ttl", name, "expires_at")

    def _queue(self, name: str, attributes: dict[str, str]) -> tuple[Action, str | None]:
        """(what was done, the queue's ARN); the attributes are made to match when the queue exists."""
        sqs = self.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            if self.dry_run:
                return "would create", None
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            return "created", self._queue_arn(url)
        current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        differ = {k: v for k, v in attributes.items() if _normal(current.get(k)) != _normal(v)}
        if not differ:
            return "found", current["QueueArn"]
        if not self.dry_run:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=differ)
        return self._would(True), current["QueueArn"]

    def _queue_arn(self, url: str) -> str:
        attributes = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def _failed_events_queue(self) -> Iterator[Step]:
        name = self.stage.failed_events_queue
        action, arn = self._queue(
            name, {"MessageRetentionPeriod": str(FAILED_EVENT_RETENTION), "SqsManagedSseEnabled": "true"}
        )
        self.failed_events_arn = arn
        yield Step(action, "sqs queue", name, "events not finished after every retry")

    def _unit_queues(self) -> Iterator[Step]:
        for queue in self.stage.unit_queues:
            dead = f"{queue.name}-dead"
            action, dead_arn = self._queue(
                dead, {"MessageRetentionPeriod": str(FAILED_EVENT_RETENTION), "SqsManagedSseEnabled": "true"}
            )
            yield Step(action, "sqs queue", dead, f"units that failed {UNIT_RECEIVES} times")
            attributes = {
                "VisibilityTimeout": str(queue.visibility_timeout),
                "SqsManagedSseEnabled": "true",
            }
            if dead_arn is not None:
                redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": UNIT_RECEIVES}
                attributes["RedrivePolicy"] = json.dumps(redrive, separators=(",", ":"))
            action, _ = self._queue(queue.name, attributes)
            yield Step(action, "sqs queue", queue.name, f"read by {queue.function}")

    def _alarms(self) -> Iterator[Step]:
        topic = self.topic_arn()
        if topic is None:
            return
        prefix = f"{self.stage.app_name}-{self.stage.name}"
        for name, alarm in desired_alarms(prefix, topic, self.stage).items():
            yield from self._alarm(name, alarm)

    def _alarm(self, name: str, wanted: dict[str, Any]) -> Iterator[Step]:
        cloudwatch = self.client("cloudwatch")
        [*found] = cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
        if found and all(_normal(found[0].get(k)) == _normal(v) for k, v in wanted.items()):
            yield Step("found", "cloudwatch alarm", name)
            return
        if not self.dry_run:
            cloudwatch.put_metric_alarm(AlarmName=name, **wanted)
        yield Step(self._would(bool(found)), "cloudwatch alarm", name, f"{wanted['MetricName']} > 0")

    # --- what needs the deployed functions ------------------------------------------------------------

    def _functions(self) -> Iterator[Step]:
        queue = getattr(self, "failed_events_arn", None)
        lambda_ = self.client("lambda")
        for function in self.stage.asynchronous_functions:
            try:
                role_arn = lambda_.get_function_configuration(FunctionName=function)["Role"]
            except lambda_.exceptions.ResourceNotFoundException:
                detail = f"run `chalice deploy --stage {self.stage.name}`, then this command again"
                yield Step("pending", "on-failure destination", function, detail)
                continue
            if queue is None:  # a dry run that would create the queue
                yield Step("would create", "on-failure destination", function)
                continue
            yield from self._send_permission(role_arn.rsplit("/", 1)[-1], queue)
            yield from self._invoke_config(function, queue)

    def _send_permission(self, role: str, queue_arn: str) -> Iterator[Step]:
        iam = self.client("iam")
        wanted = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}],
        }
        try:
            current = iam.get_role_policy(RoleName=role, PolicyName=SEND_POLICY)["PolicyDocument"]
        except iam.exceptions.NoSuchEntityException:
            current = None
        if isinstance(current, str):
            from urllib.parse import unquote

            current = json.loads(unquote(current))
        if current == wanted:
            yield Step("found", "role policy", f"{role}/{SEND_POLICY}", "sqs:SendMessage on the queue")
            return
        if not self.dry_run:
            iam.put_role_policy(RoleName=role, PolicyName=SEND_POLICY, PolicyDocument=json.dumps(wanted))
        yield Step(
            self._would(current is not None), "role policy", f"{role}/{SEND_POLICY}", "sqs:SendMessage"
        )

    def _invoke_config(self, function: str, queue_arn: str) -> Iterator[Step]:
        from botocore.exceptions import ClientError

        lambda_ = self.client("lambda")
        wanted = {
            "MaximumRetryAttempts": DELIVERY_RETRIES,
            "MaximumEventAgeInSeconds": MAX_EVENT_AGE,
            "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        }
        try:
            current = lambda_.get_function_event_invoke_config(FunctionName=function)
        except lambda_.exceptions.ResourceNotFoundException:
            current = None
        if current is not None and all(_normal(current.get(k)) == _normal(v) for k, v in wanted.items()):
            yield Step("found", "invoke config", function, "2 retries, then the on-failure queue")
            return
        if not self.dry_run:
            for attempt in range(6):  # a new role policy takes seconds to reach Lambda's check
                try:
                    lambda_.put_function_event_invoke_config(FunctionName=function, **wanted)
                    break
                except ClientError as error:
                    if error.response["Error"]["Code"] != "InvalidParameterValueException" or attempt == 5:
                        raise
                    self.settle(5.0)
        yield Step(self._would(current is not None), "invoke config", function, "2 retries, then the queue")


def desired_alarms(prefix: str, topic: str, stage: Stage) -> dict[str, dict[str, Any]]:
    """The alarms the CloudFormation template declares, for a `chalice deploy` stage."""
    common = {
        "AlarmActions": [topic],
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    alarms: dict[str, dict[str, Any]] = {
        f"{prefix}-failed-events": {
            "AlarmDescription": "An event sgguard could not finish after every retry waits in the on-failure "
            "queue: read it, fix the cause, replay it.",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": stage.failed_events_queue}],
            "Statistic": "Maximum",
            "Period": 300,
            **common,
        }
    }
    for queue in stage.unit_queues:
        alarms[f"{queue.name}-dead"] = {
            "AlarmDescription": f"Units that failed {UNIT_RECEIVES} times wait in {queue.name}-dead: read "
            f"{queue.function}'s log, fix the cause (often a member role), redrive them.",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": f"{queue.name}-dead"}],
            "Statistic": "Maximum",
            "Period": 300,
            **common,
        }
    for function in stage.asynchronous_functions:
        for metric in ("Errors", "Throttles"):
            alarms[f"{function}-{metric.lower()}"] = {
                "AlarmDescription": f"Lambda {metric.lower()} of {function}: read its log.",
                "Namespace": "AWS/Lambda",
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
                "Statistic": "Sum",
                "Period": 300,
                **common,
            }
    return alarms


def _normal(value: Any) -> Any:
    """Compare what AWS answers with what is wanted: numbers as numbers, JSON text as data."""
    if isinstance(value, str):
        try:
            return _normal(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _aws_error(error: Exception) -> str:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"AWS refused {error.operation_name}: {info.get('Code', 'Error')}: {info.get('Message', '')}"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found: configure a profile (AWS_PROFILE) or set AWS_ACCESS_KEY_ID"
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    return f"AWS could not be reached: {error}"
