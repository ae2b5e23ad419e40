"""Who really did it: one CloudTrail record per identity type, built from the sample shapes in
tests/fixtures/cloudtrail, through the parser and into the decision's actor and the e-mail."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.baseline import load_baseline
from chalicelib.decision import ActionResult, Actor, Decision, decide
from chalicelib.evaluate import Facts, evaluate
from chalicelib.events import parse_record, rule_change
from chalicelib.identity import PERSON_LIMIT, plain, who
from chalicelib.notify import message_attributes, person_words, render
from tests.conftest import load_sample

SAMPLE = "authorize-ingress-all-traffic-world.json"
ACCOUNT = "111122223333"
SSO_ROLE = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
SSO_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/{SSO_ROLE}"
STORE = "arn:aws:identitystore::111122223333:identitystore/d-1234567890"
STORE_USER = "94482488-3041-7026-18f0-27cd6b8a1ca4"


def _issuer(arn: str, name: str) -> dict[str, Any]:
    return {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLEROLEID9999",
            "arn": arn,
            "accountId": ACCOUNT,
            "userName": name,
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": "2026-11-20T08:55:02Z", "mfaAuthenticated": "false"},
    }


IDENTITIES: dict[str, dict[str, Any]] = {
    "identity-center-session": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID9999:dana@example.com",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/dana@example.com",
        "accountId": ACCOUNT,
        "sessionContext": _issuer(SSO_ROLE_ARN, SSO_ROLE),
    },
    "identity-center-session-on-behalf-of": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID9999:dana",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/dana",
        "accountId": ACCOUNT,
        "sessionContext": _issuer(SSO_ROLE_ARN, SSO_ROLE),
        "onBehalfOf": {"userId": STORE_USER, "identityStoreArn": STORE},
    },
    "identity-center-user": {
        "type": "IdentityCenterUser",
        "accountId": ACCOUNT,
        "onBehalfOf": {"userId": STORE_USER, "identityStoreArn": STORE},
        "credentialId": "EXAMPLEcredentialId",
    },
    "role-chain-with-source-identity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID9999:botocore-session-1764600000",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/DeployRole/botocore-session-1764600000",
        "accountId": ACCOUNT,
        "sessionContext": {
            **_issuer(f"arn:aws:iam::{ACCOUNT}:role/DeployRole", "DeployRole"),
            "sourceIdentity": "dana@example.com",
        },
    },
    "role-session": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID1234:dana@example.com",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/DeveloperAccess/dana@example.com",
        "accountId": ACCOUNT,
        "sessionContext": _issuer(f"arn:aws:iam::{ACCOUNT}:role/DeveloperAccess", "DeveloperAccess"),
    },
    "iam-user": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSERID0001",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ops/ci-deployer",
        "accountId": ACCOUNT,
        "userName": "ci-deployer",
    },
    "root": {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
    },
    "federated-user": {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:erin",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/erin",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/broker",
                "userName": "broker",
            }
        },
    },
    "aws-service": {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"},
    "other-account": {"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "444455556666"},
}

EXPECTED: dict[str, tuple[str | None, str | None, str | None]] = {
    "identity-center-session": ("dana@example.com", "identity-center", "permission set AdministratorAccess"),
    "identity-center-session-on-behalf-of": ("dana", "identity-center", "permission set AdministratorAccess"),
    "identity-center-user": (f"Identity Center user {STORE_USER}", "identity-center", "IAM Identity Center"),
    "role-chain-with-source-identity": (
        "dana@example.com",
        "source-identity",
        f"arn:aws:iam::{ACCOUNT}:role/DeployRole",
    ),
    "role-session": (
        "dana@example.com",
        "role-session-name",
        f"arn:aws:iam::{ACCOUNT}:role/DeveloperAccess",
    ),
    "iam-user": ("ci-deployer", "iam-user", None),
    "root": (f"root user of {ACCOUNT}", "root", None),
    "federated-user": ("erin", "federated-user", f"arn:aws:iam::{ACCOUNT}:user/broker"),
    "aws-service": (None, None, "autoscaling.amazonaws.com"),
    "other-account": (None, None, "account 444455556666"),
}


def event_with(identity: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(load_sample(SAMPLE))
    event["detail"]["userIdentity"] = identity
    return event


def decision_for(identity: dict[str, Any]) -> Decision:
    record = parse_record(event_with(identity))
    change = rule_change(record)  # type: ignore[arg-type]
    baseline = load_baseline("aws-foundational")
    findings = evaluate(change.rules, baseline, Facts(group_names={change.group_id: "web"}))
    results = {r.rule_id: ActionResult("revoked") for r in change.rules if r.rule_id}
    return decide(change, findings, "enforce", "aws-foundational", results)


@pytest.mark.parametrize("kind", sorted(IDENTITIES))
def test_each_identity_type_names_its_person_and_what_they_acted_through(kind: str) -> None:
    actor = decision_for(IDENTITIES[kind]).actor
    assert (actor.person, actor.person_source, actor.via) == EXPECTED[kind]


@pytest.mark.parametrize("kind", sorted(IDENTITIES))
def test_the_email_leads_with_the_person(kind: str) -> None:
    decision = decision_for(IDENTITIES[kind])
    text = json.loads(render(decision).body)["default"]
    lines = text.splitlines()
    who_line = next(line for line in lines if line.startswith("Who:"))
    assert lines.index(who_line) < lines.index("WHAT WAS WRONG")
    person, _, via = EXPECTED[kind]
    if person:
        assert who_line == f"Who:      {person}" + (f" (via {via})" if via else "")
        assert f"Person:        {person}" in text
    else:
        assert "the record names no person" in text


def test_identity_center_session_beats_its_on_behalf_of_id_and_keeps_the_store_user_reachable() -> None:
    """The session name is what people recognise; the Identity Store user id stays in the document's
    record of the event (the log line keeps the whole event for invalid ones only, so the id is here)."""
    actor = decision_for(IDENTITIES["identity-center-session-on-behalf-of"]).actor
    assert actor.person == "dana"
    assert actor.principal == SSO_ROLE_ARN


def test_on_behalf_of_without_a_reserved_sso_role_still_names_the_identity_store_user() -> None:
    identity = copy.deepcopy(IDENTITIES["role-session"])
    identity["onBehalfOf"] = {"userId": STORE_USER, "identityStoreArn": STORE}
    actor = decision_for(identity).actor
    assert actor.person == f"Identity Center user {STORE_USER}"
    assert actor.person_source == "identity-center"


def test_a_source_identity_outranks_the_session_name_its_chain_chose() -> None:
    identity = copy.deepcopy(IDENTITIES["role-session"])
    identity["sessionContext"]["sourceIdentity"] = "erin"
    assert decision_for(identity).actor.person == "erin"


def test_an_identity_center_session_outranks_a_source_identity() -> None:
    identity = copy.deepcopy(IDENTITIES["identity-center-session"])
    identity["sessionContext"]["sourceIdentity"] = "someone-else"
    actor = decision_for(identity).actor
    assert (actor.person, actor.person_source) == ("dana@example.com", "identity-center")


def test_sso_role_name_is_read_from_the_issuer_when_the_arn_is_odd() -> None:
    identity = copy.deepcopy(IDENTITIES["identity-center-session"])
    identity["arn"] = None
    actor = who(parse_record(event_with(identity)).user_identity)
    assert actor.via == "permission set AdministratorAccess"
    assert actor.person is None  # no session name to read: nobody is invented


# --- hostile values ------------------------------------------------------------------------------

HOSTILE = [
    "dana\n\nSubject: forged",
    "\u202eevil\u202c",
    "zero\u200bwidth",
    "x" * 100_000,
    "<!channel> *bold* `code`",
    "\x00\x07\x1b[31mred",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_session_names_are_made_plain_and_bounded(value: str) -> None:
    identity = copy.deepcopy(IDENTITIES["role-session"])
    identity["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/DeveloperAccess/{value}"
    actor = decision_for(identity).actor
    person = actor.person or ""
    assert len(person) <= PERSON_LIMIT
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in person)
    assert "\u202e" not in person
    assert "\u200b" not in person
    strings, _ = message_attributes(decision_for(identity))
    assert all(len(v) <= 256 for v in strings.values())
    assert "\n" not in "".join(strings.values())


@pytest.mark.parametrize("value", [None, 42, ["a"], {"x": 1}])
def test_source_identity_of_the_wrong_type_is_an_invalid_event_naming_the_field(value: Any) -> None:
    identity = copy.deepcopy(IDENTITIES["role-chain-with-source-identity"])
    identity["sessionContext"]["sourceIdentity"] = value
    if value is None:
        assert decision_for(identity).actor.person_source == "role-session-name"
        return
    from chalicelib.events import InvalidEvent

    with pytest.raises(InvalidEvent) as raised:
        parse_record(event_with(identity))
    assert "sessionContext.sourceIdentity" in str(raised.value)


def test_plain_keeps_unicode_letters() -> None:
    assert plain("zoë Ünal") == "zoë Ünal"
    assert plain("   ") is None
    assert plain("a" * 300, 10) == "a" * 9 + "…"


def test_person_words_without_a_person_falls_back_to_the_principal() -> None:
    assert person_words(Actor(principal="arn:aws:iam::1:role/x")) == "arn:aws:iam::1:role/x"
    assert person_words(Actor()) == "an unknown caller"
    assert person_words(Actor(person="dana", via="role r")) == "dana (via role r)"
