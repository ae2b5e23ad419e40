"""The rules as they are when sgguard acts, not as the event described them.

Events arrive seconds to minutes late and may be delivered twice; meanwhile a rule may have been
removed, or changed (ModifySecurityGroupRules) into something that complies. sgguard never removes a
rule that is compliant at the moment of removal: it reads the violating rules' current state by id
(one DescribeSecurityGroupRules call per event, shared with the look-up of a modified rule's
direction) and revokes only those that still violate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.adapters.ec2 import AwsBusy, AwsUnavailable
from chalicelib.baseline import Baseline
from chalicelib.decision import ActionResult, Mode
from chalicelib.evaluate import Facts, Finding, evaluate
from chalicelib.rules import Rule


class RuleReader(Protocol):
    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]: ...


@dataclass
class RuleState:
    """Current rules by id, read from AWS once per event: every later question is answered from what
    that read returned (or from the group's rules, when an old event made sgguard read them all)."""

    aws: RuleReader
    known: dict[str, Rule] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)
    error: str | None = None
    """Why AWS could not answer: kept as text, not as the exception, whose traceback would tie this
    object and its frames into a reference cycle that only the cyclic collector frees."""
    busy: bool = False
    """The error was throttling or AWS-side (AwsBusy): a later attempt may read the rules."""

    def seed(self, rules: Iterable[Rule], absent_if_missing: Iterable[str] = ()) -> None:
        """Remember what a read of a whole group returned. ``absent_if_missing``: ids of rules of that
        same group, which that read would have returned were they there; one it did not return is gone,
        so AWS is not asked about it a second time."""
        for rule in rules:
            if rule.rule_id:
                self.known[rule.rule_id] = rule
                self.asked.add(rule.rule_id)
        self.asked.update(absent_if_missing)

    def read(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        """The current state of the given rules; ids that no longer exist are absent from the answer.
        Raises AwsUnavailable or AwsBusy (remembered: AWS is not asked twice for one event)."""
        ids = set(rule_ids)
        missing = ids - self.asked
        if missing:
            if self.error is not None:
                raise AwsBusy(self.error) if self.busy else AwsUnavailable(self.error)
            try:
                self.known.update(self.aws.rules_by_id(sorted(missing)))
            except (AwsUnavailable, AwsBusy) as error:
                self.error, self.busy = str(error), isinstance(error, AwsBusy)
                raise
            self.asked |= missing
        return {i: self.known[i] for i in ids if i in self.known}


@dataclass(frozen=True, slots=True)
class Recheck:
    still_violating: list[Finding]
    """Findings of the *current* rules that must still be revoked (direction and content as AWS has them)."""
    settled: dict[str, ActionResult]
    """Rules needing no revocation: already-absent, already-fixed, or failed because unreadable."""


def recheck(
    findings: Sequence[Finding], baseline: Baseline, facts: Facts, state: RuleState, mode: Mode
) -> Recheck:
    wanted = [f for f in findings if f.must_revoke and f.rule.rule_id]
    if not wanted:
        return Recheck([], {})
    ids = [f.rule.rule_id for f in wanted if f.rule.rule_id]
    try:
        current = state.read(ids)
    except (AwsUnavailable, AwsBusy) as error:
        if mode != "enforce":
            return Recheck(wanted, {})  # dry-run: judged on the event alone; nothing is changed anyway
        why = f"could not read the rule's current state ({error}); not revoked, so as never to remove a rule"
        retry = isinstance(error, AwsBusy)  # a later attempt may read it: Lambda retries the event
        return Recheck(
            [], {i: ActionResult("failed", f"{why} that was fixed since", retryable=retry) for i in ids}
        )
    still: list[Finding] = []
    settled: dict[str, ActionResult] = {}
    for rule_id in dict.fromkeys(ids):
        now = current.get(rule_id)
        if now is None:
            settled[rule_id] = ActionResult("already-absent")
            continue
        [fresh] = evaluate([now], baseline, facts)
        if fresh.must_revoke:
            still.append(fresh)
        else:
            note = f"changed since the event: now {now.in_words()}, which complies; left in place"
            settled[rule_id] = ActionResult("already-fixed", note=note)
    return Recheck(still, settled)
