"""CloudTrail records and their conversion into canonical rules (chalicelib.events): pure, no AWS."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chalicelib.events import (
    AuthorizeRecord,
    InvalidEvent,
    ModifyRecord,
    OtherRecord,
    parse_record,
    prefix_of,
    rule_change,
)
from chalicelib.rules import Rule, Source
from tests.conftest import SAMPLE_EVENTS, load_sample

SSH = "authorize-ingress-ssh-mixed-sources.json"
SEVERAL = "authorize-ingress-several-permissions.json"
LEGACY = "authorize-ingress-legacy-without-rule-ids.json"
MODIFY = "modify-security-group-rules.json"
EGRESS = "authorize-egress-all-traffic.json"
ALL_TRAFFIC = "authorize-ingress-all-traffic-world.json"
CLOUDFORMATION = "authorize-ingress-cloudformation-group-reference.json"
FAILED = "authorize-ingress-failed-call.json"

ARN_PREFIX = "arn:aws:ec2:eu-west-1:111122223333:security-group-rule/"


def rules_of(event: Any) -> tuple[Rule, ...]:
    record = parse_record(event)
    assert isinstance(record, AuthorizeRecord | ModifyRecord)
    return rule_change(record).rules


def without_rule_set(event: dict[str, Any]) -> dict[str, Any]:
    """The event as an old trail writes it: no securityGroupRuleSet, so rules come from the request."""
    event = copy.deepcopy(event)
    event["detail"]["responseElements"].pop("securityGroupRuleSet", None)
    return event


def parse_and_convert(event: Any) -> tuple[Rule, ...]:
    """What the guard does with an event: parse it, then turn an Authorize or Modify into rules."""
    record = parse_record(event)
    if isinstance(record, AuthorizeRecord | ModifyRecord):
        return rule_change(record, prefix_of(event)).rules
    return ()


def errors_of(event: Any) -> list[str]:
    """The fields at fault: the reason the event is invalid, or, for an event that names its group,
    the fields noted beside the rules that could be read (one bad rule never hides the others)."""
    try:
        record = parse_record(event)
        if not isinstance(record, AuthorizeRecord | ModifyRecord):
            raise AssertionError("not a rule change")
        change = rule_change(record, prefix_of(event))
    except InvalidEvent as error:
        errors = error.errors
    else:
        errors = []
    if errors:
        return errors
    assert change.errors, "an unreadable field must be noted"
    assert change.unread or any("requestParameters" in e for e in change.errors)
    return list(change.errors)


# --- every sample parses ---------------------------------------------------------------------------


def test_there_are_samples() -> None:
    assert len(SAMPLE_EVENTS) >= 8


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_every_sample_parses(name: str) -> None:
    event = load_sample(name)
    record = parse_record(event)
    assert record.event_id == event["detail"]["eventID"]
    assert record.event_name == event["detail"]["eventName"]
    assert record.aws_region == "eu-west-1"


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_a_bare_record_parses_like_its_envelope(name: str) -> None:
    event = load_sample(name)
    assert parse_record(event["detail"]) == parse_record(event)


@pytest.mark.parametrize("name", [n for n in SAMPLE_EVENTS if n != FAILED])
def test_rule_change_of_a_bare_record_matches_the_envelope(name: str) -> None:
    event = load_sample(name)
    assert rules_of(event["detail"]) == rules_of(event)


def test_failed_call_is_other_record_with_error_code() -> None:
    record = parse_record(load_sample(FAILED))
    assert isinstance(record, OtherRecord)
    assert record.error_code == "Client.UnauthorizedOperation"
    assert "not authorized" in (record.error_message or "")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (SSH, AuthorizeRecord),
        (SEVERAL, AuthorizeRecord),
        (LEGACY, AuthorizeRecord),
        (EGRESS, AuthorizeRecord),
        (ALL_TRAFFIC, AuthorizeRecord),
        (CLOUDFORMATION, AuthorizeRecord),
        (MODIFY, ModifyRecord),
    ],
)
def test_record_kinds(name: str, kind: type) -> None:
    assert isinstance(parse_record(load_sample(name)), kind)


def test_log_file_records_each_parse() -> None:
    records = load_sample("cloudtrail-log-file.json")["Records"]
    parsed = [parse_record(r) for r in records]
    assert [type(p) for p in parsed] == [
        AuthorizeRecord,
        OtherRecord,
        AuthorizeRecord,
        OtherRecord,
        ModifyRecord,
    ]
    run_instances = parsed[1]
    assert run_instances.event_name == "RunInstances"
    assert run_instances.error_code is None
    assert parsed[3].error_code == "Client.UnauthorizedOperation"


def test_a_call_from_another_service_is_other() -> None:
    event = load_sample(SSH)
    event["detail"]["eventSource"] = "s3.amazonaws.com"
    assert isinstance(parse_record(event), OtherRecord)


# --- rule_change yields every rule -----------------------------------------------------------------


def test_ssh_mixed_sources_yields_three_rules() -> None:
    change = rule_change(parse_record(load_sample(SSH)))  # type: ignore[arg-type]
    assert change.group_id == "sg-0f9e8d7c6b5a49382"
    assert change.direction_known
    assert change.ids_known
    assert change.account == "111122223333"
    assert change.region == "eu-west-1"
    ids = ["sgr-0aa11bb22cc33dd41", "sgr-0aa11bb22cc33dd42", "sgr-0aa11bb22cc33dd43"]
    assert [r.rule_id for r in change.rules] == ids
    assert [r.rule_arn for r in change.rules] == [ARN_PREFIX + i for i in ids]
    assert [r.source for r in change.rules] == [
        Source("cidr_ipv4", "0.0.0.0/0"),
        Source("cidr_ipv4", "10.20.0.0/16"),
        Source("cidr_ipv6", "::/0"),
    ]
    for made in change.rules:
        assert (made.group_id, made.direction, made.protocol, made.from_port, made.to_port) == (
            "sg-0f9e8d7c6b5a49382",
            "ingress",
            "tcp",
            22,
            22,
        )


def test_several_permissions_yields_four_rules_of_every_source_kind() -> None:
    rules = rules_of(load_sample(SEVERAL))
    assert [(r.rule_id, r.protocol, r.from_port, r.to_port, r.source) for r in rules] == [
        ("sgr-0b1b2b3b4b5b6b7b1", "tcp", 443, 443, Source("cidr_ipv4", "0.0.0.0/0")),
        ("sgr-0b1b2b3b4b5b6b7b2", "tcp", 3306, 3306, Source("cidr_ipv4", "0.0.0.0/0")),
        ("sgr-0b1b2b3b4b5b6b7b3", "tcp", 5432, 5432, Source("prefix_list", "pl-0123456789abcdef0")),
        ("sgr-0b1b2b3b4b5b6b7b4", "tcp", 8080, 8080, Source("security_group", "sg-0fedcba9876543210")),
    ]
    assert {r.direction for r in rules} == {"ingress"}
    assert {r.group_id for r in rules} == {"sg-01234abcd5678ef90"}


def test_several_permissions_from_the_request_alone_gives_the_same_rules_without_ids() -> None:
    from_response = rules_of(load_sample(SEVERAL))
    record = parse_record(without_rule_set(load_sample(SEVERAL)))
    change = rule_change(record)  # type: ignore[arg-type]
    assert not change.ids_known
    assert [r.rule_id for r in change.rules] == [None] * 4
    assert [r.identity for r in change.rules] == [r.identity for r in from_response]


def test_legacy_event_without_rule_ids() -> None:
    change = rule_change(parse_record(load_sample(LEGACY)))  # type: ignore[arg-type]
    assert change.ids_known is False
    assert change.direction_known is True
    assert change.group_id == "sg-01234abcd5678ef90"
    assert change.rules == (
        Rule("sg-01234abcd5678ef90", "ingress", "tcp", 3389, 3389, Source("cidr_ipv4", "0.0.0.0/0")),
    )
    assert change.rules[0].rule_id is None


def test_modify_rules_direction_unknown() -> None:
    change = rule_change(parse_record(load_sample(MODIFY)))  # type: ignore[arg-type]
    assert change.direction_known is False
    assert change.ids_known is True
    assert change.group_id == "sg-0f9e8d7c6b5a49382"
    (made,) = change.rules
    assert made.in_words() == "tcp 3389 from 0.0.0.0/0"
    assert made.rule_id == "sgr-0aa11bb22cc33dd42"
    assert made.description == "temporary"


def test_egress_all_traffic() -> None:
    change = rule_change(parse_record(load_sample(EGRESS)))  # type: ignore[arg-type]
    (made,) = change.rules
    assert made.direction == "egress"
    assert made.protocol == "-1"
    assert (made.from_port, made.to_port) == (None, None)
    assert made.source == Source("cidr_ipv4", "0.0.0.0/0")
    assert made.rule_id == "sgr-0e5e5e5e5e5e5e5e5"


def test_egress_from_the_request_alone_is_still_egress() -> None:
    (made,) = rules_of(without_rule_set(load_sample(EGRESS)))
    assert made.direction == "egress"
    assert (made.protocol, made.from_port, made.to_port) == ("-1", None, None)


def test_all_traffic_ingress() -> None:
    (made,) = rules_of(load_sample(ALL_TRAFFIC))
    assert (made.direction, made.protocol, made.from_port, made.to_port) == ("ingress", "-1", None, None)
    assert made.rule_id == "sgr-035a8e56b1e097d50"


def test_cloudformation_group_reference() -> None:
    (made,) = rules_of(load_sample(CLOUDFORMATION))
    assert made.source == Source("security_group", "sg-0d0d0d0d0d0d0d0d5")
    assert made.description == "Database access from the application tier"
    assert made.in_words() == "tcp 1521 from sg-0d0d0d0d0d0d0d0d5"


# --- variations CloudTrail really produces -----------------------------------------------------------


@pytest.mark.parametrize("empty", [{}, None, "missing"])
def test_empty_collections_written_as_empty_object_null_or_missing(empty: Any) -> None:
    event = without_rule_set(load_sample(SSH))
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    for key in ("groups", "prefixListIds", "ipv6Ranges"):
        if empty == "missing":
            perm.pop(key, None)
        else:
            perm[key] = empty
    rules = rules_of(event)
    assert [r.source for r in rules] == [
        Source("cidr_ipv4", "0.0.0.0/0"),
        Source("cidr_ipv4", "10.20.0.0/16"),
    ]


@pytest.mark.parametrize("empty", [{}, "missing"])
def test_a_request_with_no_permissions_yields_no_rules(empty: Any) -> None:
    event = without_rule_set(load_sample(SSH))
    if empty == "missing":
        del event["detail"]["requestParameters"]["ipPermissions"]
    else:
        event["detail"]["requestParameters"]["ipPermissions"] = empty
    assert rules_of(event) == ()


@pytest.mark.parametrize("empty", [{}, "missing"])
def test_an_empty_rule_set_falls_back_to_the_request(empty: Any) -> None:
    event = load_sample(SSH)
    if empty == "missing":
        del event["detail"]["responseElements"]["securityGroupRuleSet"]
    else:
        event["detail"]["responseElements"]["securityGroupRuleSet"] = empty
    rules = rules_of(event)
    assert len(rules) == 3
    assert {r.rule_id for r in rules} == {None}


def test_response_elements_null_falls_back_to_the_request() -> None:
    event = load_sample(SSH)
    event["detail"]["responseElements"] = None
    assert len(rules_of(event)) == 3


def test_all_traffic_without_ports_in_request_and_response() -> None:
    event = load_sample(ALL_TRAFFIC)
    del event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["fromPort"]
    del event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["toPort"]
    (made,) = rules_of(event)
    assert (made.protocol, made.from_port, made.to_port) == ("-1", None, None)
    (from_request,) = rules_of(without_rule_set(load_sample(ALL_TRAFFIC)))
    assert (from_request.protocol, from_request.from_port, from_request.to_port) == ("-1", None, None)


def test_ports_written_as_strings() -> None:
    event = load_sample(SSH)
    for item in event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]:
        item["fromPort"], item["toPort"] = "22", "22"
    assert [(r.from_port, r.to_port) for r in rules_of(event)] == [(22, 22)] * 3
    request = without_rule_set(load_sample(SSH))
    perm = request["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["fromPort"], perm["toPort"] = "22", "22"
    assert [(r.from_port, r.to_port) for r in rules_of(request)] == [(22, 22)] * 3


@pytest.mark.parametrize(
    ("written", "expected"),
    [("6", "tcp"), ("17", "udp"), ("1", "icmp"), ("58", "icmpv6"), (6, "tcp"), ("TCP", "tcp"), ("all", "-1")],
)
def test_protocols_written_as_numbers_are_normalised(written: Any, expected: str) -> None:
    event = load_sample(SSH)
    for item in event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]:
        item["ipProtocol"] = written
    assert {r.protocol for r in rules_of(event)} == {expected}
    request = without_rule_set(load_sample(SSH))
    request["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipProtocol"] = written
    assert {r.protocol for r in rules_of(request)} == {expected}
    modify = load_sample(MODIFY)
    modify["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]["SecurityGroupRule"][
        "SecurityGroupRule"
    ]["IpProtocol"] = written
    assert {r.protocol for r in rules_of(modify)} == {expected}


def test_modify_with_a_list_of_two_updates() -> None:
    event = load_sample(MODIFY)
    request = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]
    first = request["SecurityGroupRule"]
    second = {
        "SecurityGroupRuleId": "sgr-0aa11bb22cc33dd43",
        "SecurityGroupRule": {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "CidrIpv6": "::/0"},
        "tag": 2,
    }
    request["SecurityGroupRule"] = [first, second]
    rules = rules_of(event)
    assert [(r.rule_id, r.in_words()) for r in rules] == [
        ("sgr-0aa11bb22cc33dd42", "tcp 3389 from 0.0.0.0/0"),
        ("sgr-0aa11bb22cc33dd43", "udp 53 from ::/0"),
    ]
    assert {r.group_id for r in rules} == {"sg-0f9e8d7c6b5a49382"}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("PrefixListId", "pl-0123456789abcdef0", Source("prefix_list", "pl-0123456789abcdef0")),
        ("ReferencedGroupId", "sg-0fedcba9876543210", Source("security_group", "sg-0fedcba9876543210")),
        ("CidrIpv6", "2001:db8::/32", Source("cidr_ipv6", "2001:db8::/32")),
    ],
)
def test_modify_with_other_source_kinds(field: str, value: str, expected: Source) -> None:
    event = load_sample(MODIFY)
    rule = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]["SecurityGroupRule"][
        "SecurityGroupRule"
    ]
    del rule["CidrIpv4"]
    rule[field] = value
    (made,) = rules_of(event)
    assert made.source == expected


def test_unknown_fields_anywhere_are_ignored() -> None:
    event = load_sample(SEVERAL)
    expected = rules_of(copy.deepcopy(event))
    event["newEnvelopeField"] = {"x": 1}
    detail = event["detail"]
    detail["brandNewField"] = [1, 2, 3]
    detail["userIdentity"]["somethingNew"] = "yes"
    detail["requestParameters"]["extra"] = {"nested": True}
    for perm in detail["requestParameters"]["ipPermissions"]["items"]:
        perm["futureThing"] = "x"
    for item in detail["responseElements"]["securityGroupRuleSet"]["items"]:
        item["tags"] = {"items": [{"key": "k", "value": "v"}]}
    assert rules_of(event) == expected
    assert rules_of(without_rule_set(event)) == rules_of(without_rule_set(load_sample(SEVERAL)))


def test_host_bits_in_event_cidrs_are_dropped() -> None:
    event = load_sample(SSH)
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][1]["cidrIpv4"] = "10.20.30.40/16"
    assert rules_of(event)[1].source == Source("cidr_ipv4", "10.20.0.0/16")


# --- invalid events name the field at fault ----------------------------------------------------------


REQUEST_PERM = "requestParameters.ipPermissions.items[0]"


def test_from_port_not_a_number() -> None:
    event = load_sample(SSH)
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "abc"
    errors = errors_of(event)
    assert any(e.startswith(f"detail.{REQUEST_PERM}.fromPort:") for e in errors), errors


def test_from_port_not_a_number_in_a_bare_record_has_no_envelope_prefix() -> None:
    detail = load_sample(SSH)["detail"]
    detail["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "abc"
    errors = errors_of(detail)
    assert any(e.startswith(f"{REQUEST_PERM}.fromPort:") for e in errors), errors


def test_from_port_out_of_range() -> None:
    event = load_sample(SSH)
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = 70000
    errors = errors_of(event)
    assert any(e.startswith(f"detail.{REQUEST_PERM}.fromPort:") and "65535" in e for e in errors), errors


def test_response_port_out_of_range() -> None:
    event = load_sample(SSH)
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][2]["toPort"] = 70000
    errors = errors_of(event)
    assert any(
        e.startswith("detail.responseElements.securityGroupRuleSet.items[2].toPort:") for e in errors
    ), errors


def test_invalid_cidr() -> None:
    event = load_sample(SSH)
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"][0]["cidrIp"] = (
        "999.1.1.1/8"
    )
    errors = errors_of(event)
    assert any(
        e.startswith(f"detail.{REQUEST_PERM}.ipRanges.items[0].cidrIp:") and "999.1.1.1/8" in e
        for e in errors
    ), errors


def test_invalid_protocol() -> None:
    event = load_sample(SSH)
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipProtocol"] = "300"
    errors = errors_of(event)
    assert any(e.startswith(f"detail.{REQUEST_PERM}.ipProtocol:") for e in errors), errors


def test_missing_event_id() -> None:
    event = load_sample(SSH)
    del event["detail"]["eventID"]
    errors = errors_of(event)
    assert any(e.startswith("detail.eventID:") for e in errors), errors


def test_missing_event_id_in_a_bare_record() -> None:
    detail = load_sample(SSH)["detail"]
    del detail["eventID"]
    assert any(e.startswith("eventID:") for e in errors_of(detail))


def test_missing_detail_type_in_envelope() -> None:
    event = load_sample(SSH)
    del event["detail-type"]
    assert any("detail-type" in e or "detail_type" in e for e in errors_of(event))


def test_from_port_greater_than_to_port_in_request() -> None:
    event = without_rule_set(load_sample(SSH))
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["fromPort"], perm["toPort"] = 30, 22
    errors = errors_of(event)
    assert any(e.startswith("detail.requestParameters.ipPermissions.items") and "30" in e for e in errors), (
        errors
    )


def test_from_port_greater_than_to_port_in_rule_set() -> None:
    event = load_sample(SSH)
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"][1]["fromPort"] = 30
    errors = errors_of(event)
    assert any(
        e.startswith("detail.responseElements.securityGroupRuleSet.items[1]") and "30" in e for e in errors
    ), errors


def test_from_port_greater_than_to_port_in_modify() -> None:
    event = load_sample(MODIFY)
    rule = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]["SecurityGroupRule"][
        "SecurityGroupRule"
    ]
    rule["FromPort"], rule["ToPort"] = 3390, 3389
    errors = errors_of(event)
    assert any("ModifySecurityGroupRulesRequest.SecurityGroupRule" in e for e in errors), errors


def test_from_port_greater_than_to_port_is_fine_for_icmp() -> None:
    event = without_rule_set(load_sample(SSH))
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["ipProtocol"], perm["fromPort"], perm["toPort"] = "icmp", 8, 0  # type 8, code 0
    assert {(r.protocol, r.from_port, r.to_port) for r in rules_of(event)} == {("icmp", 8, 0)}


def test_modify_without_a_source() -> None:
    event = load_sample(MODIFY)
    rule = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]["SecurityGroupRule"][
        "SecurityGroupRule"
    ]
    del rule["CidrIpv4"]
    errors = errors_of(event)
    assert any(e.startswith("detail.requestParameters.ModifySecurityGroupRulesRequest") for e in errors), (
        errors
    )


def test_modify_with_an_empty_list_of_updates() -> None:
    event = load_sample(MODIFY)
    event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]["SecurityGroupRule"] = []
    errors = errors_of(event)
    assert any(
        e.startswith("detail.requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule")
        for e in errors
    ), errors


def test_authorize_without_group_id_or_rule_set() -> None:
    event = without_rule_set(load_sample(SSH))
    del event["detail"]["requestParameters"]["groupId"]
    errors = errors_of(event)
    assert any(e.startswith("detail.requestParameters.groupId:") for e in errors), errors


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        ([], "a list"),
        ([load_sample(SSH)], "a list"),
        ("a string", "the string 'a string'"),
        (None, "null"),  # the user's words, never Python's (NoneType)
        (42, "the number 42"),
    ],
)
def test_non_object_input(raw: Any, found: str) -> None:
    assert errors_of(raw) == [f"(event): expected a JSON object, found {found}"]


def test_invalid_event_message_joins_every_error() -> None:
    event = load_sample(SSH)
    del event["detail"]["eventID"]
    event["detail"]["eventTime"] = "yesterday"
    with pytest.raises(InvalidEvent) as caught:
        parse_record(event)
    assert len(caught.value.errors) >= 2
    assert str(caught.value) == "; ".join(caught.value.errors)
    assert isinstance(caught.value, ValueError)
