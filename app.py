"""sgguard's Chalice app: triggers and routes wired to chalicelib, nothing else."""

from typing import Any

from chalice.app import Chalice, IAMAuthorizer, Response

from chalicelib import http_api
from chalicelib.handler import handle_event
from chalicelib.org import scope as org_scope
from chalicelib.sweep.settings import schedule as sweep_schedule
from chalicelib.trigger import SECURITY_GROUP_RULE_CHANGES

app = Chalice(app_name="sgguard")


@app.on_cw_event(SECURITY_GROUP_RULE_CHANGES, name="on_security_group_change")
def on_security_group_change(event):  # type: ignore[no-untyped-def]
    """A security-group rule was added or changed somewhere in this account and region."""
    return handle_event(event.to_dict())


_sweep_schedule = sweep_schedule()  # read when Chalice loads the app for a stage; None: SWEEP_SCHEDULE=off
if _sweep_schedule is not None:

    @app.schedule(_sweep_schedule, name="sweep_security_groups")
    def sweep_security_groups(event):  # type: ignore[no-untyped-def]
        """Every rule of this account and region, judged against the baseline (SWEEP_MODE decides); with
        SWEEP_SCOPE=organization, one unit per account and region of the organization sent to the queue."""
        from chalicelib.org.fanout import scheduled  # deferred: the event function never pays for it

        return scheduled(event.context)


_units_queue = org_scope.units_queue()  # read when Chalice loads the app for a stage; None: no consumer
if _units_queue is not None:

    @app.on_sqs_message(
        queue=_units_queue,
        batch_size=1,
        name="sweep_organization_unit",
        maximum_concurrency=org_scope.concurrency(),
    )
    def sweep_organization_unit(event):  # type: ignore[no-untyped-def]
        """One account and region of the organization's sweep, in that account (through its member role)."""
        from chalicelib.org.unit_sweep import consume

        return consume(event.to_dict(), event.context)


def _respond(answer: http_api.Answer) -> Response:
    return Response(body=answer.body, status_code=answer.status, headers={"Content-Type": "application/json"})


if http_api.routes_wanted():  # a stage with REPLAY_API=off is deployed without these, and without an API
    _iam = IAMAuthorizer()  # deployed: SigV4-signed calls only; `chalice local` admits every call

    @app.route("/replay", methods=["POST"], authorizer=_iam, content_types=["application/json"])
    def replay() -> Any:
        request = app.current_request
        assert request is not None  # always set while a route runs
        return _respond(http_api.replay(request.raw_body, request.query_params))

    @app.route("/baseline", methods=["GET"], authorizer=_iam)
    def baseline() -> Any:
        return _respond(http_api.baseline())

    @app.route("/health", methods=["GET"], authorizer=_iam)
    def health() -> Any:
        return _respond(http_api.health())
