"""What a stage needs around its functions, read from the project as `chalice deploy` reads it.

Chalice's own config loader merges the stage's settings over the project's, and loading the app with
the stage's environment shows exactly the functions that stage deploys (a stage with REPLAY_API=off
has no API). Nothing here talks to AWS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StageError(RuntimeError):
    """The project or the stage cannot be read; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class UnitQueue:
    """A queue an `@app.on_sqs_message` function reads: it and its dead-letter queue must exist before
    `chalice deploy` creates the event source mapping."""

    name: str
    function: str
    visibility_timeout: int


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    app_name: str
    topic_name: str | None
    table_name: str | None
    failed_events_queue: str
    asynchronous_functions: tuple[str, ...]
    """Functions Lambda invokes asynchronously (EventBridge rules, schedules): their retries and
    on-failure destination are set by an EventInvokeConfig, which Chalice cannot declare."""
    unit_queues: tuple[UnitQueue, ...]
    lambda_timeout: int


def _timeout(config: Any, stage: str, function: str) -> int:
    return int(config.scope(stage, function).lambda_timeout or 60)


def load_stage(project_dir: Path, stage: str) -> Stage:
    try:
        from chalice.app import CloudWatchEventConfig, ScheduledEventConfig, SQSEventConfig
        from chalice.cli.factory import CLIFactory
    except ImportError as error:  # the sgguard command alone, without the project's dev tools
        raise StageError(
            f"bootstrap reads the project with Chalice, which is not installed ({error})"
        ) from error
    if not (project_dir / ".chalice" / "config.json").is_file():
        raise StageError(
            f"{project_dir} is not a Chalice project (no .chalice/config.json); use --project-dir"
        )
    factory = CLIFactory(str(project_dir), environ=os.environ)  # the app reads its settings from here
    on_disk: dict[str, Any] = factory.load_project_config()
    if stage not in on_disk.get("stages", {}):
        known = ", ".join(sorted(on_disk.get("stages", {}))) or "none"
        raise StageError(f"stage {stage!r} is not in .chalice/config.json (stages: {known})")
    config = factory.create_config_obj(chalice_stage_name=stage)
    environment = dict(config.environment_variables)
    saved = dict(os.environ)
    try:
        app = factory.load_chalice_app(environment)
    finally:  # loading applies the stage's variables to this process: put them back
        os.environ.clear()
        os.environ.update(saved)
    prefix = f"{config.app_name}-{stage}"
    asynchronous = tuple(
        f"{prefix}-{source.name}"
        for source in app.event_sources
        if isinstance(source, CloudWatchEventConfig | ScheduledEventConfig)
    )
    timeout = int(config.lambda_timeout or 60)
    queues = tuple(
        # six times the reading function's timeout: AWS's advice for an event source mapping
        UnitQueue(source.queue, f"{prefix}-{source.name}", 6 * _timeout(config, stage, source.name))
        for source in app.event_sources
        if isinstance(source, SQSEventConfig) and source.queue
    )
    return Stage(
        name=stage,
        app_name=config.app_name,
        topic_name=environment.get("NOTIFY_TOPIC") or None,
        table_name=environment.get("IDEMPOTENCY_TABLE") or None,
        failed_events_queue=f"{config.app_name}-failed-events-{stage}",
        asynchronous_functions=asynchronous,
        unit_queues=queues,
        lambda_timeout=timeout,
    )
