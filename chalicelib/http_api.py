"""The replay routes (`POST /replay`, `GET /baseline`, `GET /health`): plain values in, an answer out,
so they are tested without a server and app.py stays wiring.

Switched per stage by ``REPLAY_API`` (``on`` in dev, ``off`` in prod). Off, every route answers 404
and does nothing. The same setting decides, when Chalice loads the app for a stage, whether the routes
exist at all: prod is packaged without them, so it gets no API Gateway (see README, "Try it").

Deployed, ``/replay`` only previews (dry-run): no revocation, no audit line, no message, and the API
function's own policy is read-only. ``?mode=enforce`` there is a 400: a forged event with a forged
identity must not act with sgguard's role. Under `chalice local` (the developer's own credentials, as
the command line uses) ``?mode=enforce`` behaves as the Lambda does: it checks the stage's topic,
revokes, writes the audit line and publishes, so a rule is never revoked without the security team
hearing of it (chalicelib/local_replay.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import jsonstream
from chalicelib.baseline import BaselineError, load_baseline
from chalicelib.decision import MODES
from chalicelib.replay import SHAPES, ShapeError, Tally, events_in, judge
from chalicelib.settings import ConfigError, Settings

SWITCH = "REPLAY_API"
MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


NOT_FOUND = Answer(404, {"message": "Not Found"})


def switched_on(environ: Mapping[str, str] | None = None) -> bool:
    """At each request: the routes work only where the stage says ``REPLAY_API=on``."""
    env = os.environ if environ is None else environ
    return env.get(SWITCH, "off").strip().lower() == "on"


def routes_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """When Chalice loads the app (it applies the stage's variables first, for `chalice local`,
    `deploy` and `package`): register the routes unless the stage switches them off, so a stage
    with ``REPLAY_API=off`` has no API Gateway. Tests load the app without a stage and get them."""
    env = os.environ if environ is None else environ
    return env.get(SWITCH, "").strip().lower() != "off"


def runs_locally(environ: Mapping[str, str] | None = None) -> bool:
    """Under `chalice local`: the Chalice command line marks its process (AWS_CHALICE_CLI_MODE), and
    Lambda always sets AWS_LAMBDA_FUNCTION_NAME, which no local run has. Both are needed."""
    env = os.environ if environ is None else environ
    return env.get("AWS_CHALICE_CLI_MODE") == "true" and "AWS_LAMBDA_FUNCTION_NAME" not in env


ENFORCE_REFUSED = (
    "mode=enforce: the deployed replay route only previews (dry-run) and publishes nothing; to revoke, "
    "replay with the command line (`sgguard replay --mode enforce --notify TOPIC_ARN ...`) or under "
    "`chalice local`, with your own credentials"
)


def _bad(message: str) -> Answer:
    return Answer(400, {"message": message})


def _settings() -> tuple[Settings, Any] | Answer:
    try:
        settings = Settings.from_env()
        return settings, load_baseline(settings.baseline)
    except ConfigError as error:
        return Answer(500, {"message": str(error)})
    except BaselineError as error:
        return Answer(500, {"message": f"{error.source}: {'; '.join(error.errors)}"})


def health() -> Answer:
    if not switched_on():
        return NOT_FOUND
    loaded = _settings()
    if isinstance(loaded, Answer):
        return Answer(503, {"status": "misconfigured", **loaded.body})
    settings, baseline = loaded
    return Answer(200, {"status": "ok", "mode": settings.mode, "baseline": baseline.name})


def baseline() -> Answer:
    if not switched_on():
        return NOT_FOUND
    loaded = _settings()
    if isinstance(loaded, Answer):
        return loaded
    return Answer(200, loaded[1].model_dump(mode="json"))


def replay(body: bytes | str | None, query: Mapping[str, str] | None) -> Answer:
    """Judge the events of the body; the decisions and a summary. 400 when the body cannot be read,
    or when it is one event and that event is invalid (the message names the field)."""
    if not switched_on():
        return NOT_FOUND
    body = body.encode() if isinstance(body, str) else body or b""
    if len(body) > MAX_BODY:
        return _bad(
            f"the body is {len(body):,} bytes, over the limit of 1 MiB ({MAX_BODY:,} bytes); "
            "replay large log files with `sgguard replay`"
        )
    mode = (query or {}).get("mode", "dry-run")
    if mode not in MODES:
        return _bad(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if mode == "enforce" and not runs_locally():
        return _bad(ENFORCE_REFUSED)
    if not body.strip():
        return _bad(f"the body is empty: send {SHAPES}")
    try:
        value = jsonstream.loads(body.decode("utf-8"))  # the replay command's rules: depth, no NaN
    except UnicodeDecodeError as error:
        return _bad(f"the body is not UTF-8 text (it holds the byte 0x{body[error.start]:02x})")
    except jsonstream.JsonStreamError as error:
        return _bad(f"the body is not JSON: {error}")
    try:
        events = list(events_in(value))
    except ShapeError as error:
        return _bad(f"the body: {error}")
    loaded = _settings()
    if isinstance(loaded, Answer):
        return loaded
    settings, rules = loaded
    unsent: list[str] = []
    if mode == "enforce":
        from chalicelib.local_replay import enforce  # local-only: never reached where deployed

        done = enforce((raw for _, raw in events), rules, settings)
        if isinstance(done, str):
            return Answer(503, {"message": done})
        tally, decisions, unsent = done
    else:
        tally, decisions = Tally(), []
        for _, raw in events:
            result = judge(raw, rules, "dry-run", None, settings.member_role)
            tally.add(result)
            if not isinstance(result, str):
                decisions.append(result.to_json_dict())
    answer: dict[str, Any] = {"mode": mode, "decisions": decisions, "summary": tally.to_json_dict()}
    if unsent:
        message = f"{len(unsent)} message(s) could not be published; the decisions say what was revoked"
        return Answer(502, {"message": message, "unsent": unsent, **answer})
    if len(events) == 1 and decisions and decisions[0]["outcome"] == "invalid":
        return Answer(400, {"message": f"the event is invalid: {decisions[0]['reason']}", **answer})
    return Answer(200, answer)
