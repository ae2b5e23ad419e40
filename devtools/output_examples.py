"""The README's examples of each output (finding, chat message, event), rendered from a sample event.

`python -m devtools.output_examples` prints them; tests/test_readme_outputs.py checks that the README
shows exactly what the renderers make of the same event, so the examples cannot drift from the code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.baseline import load_baseline
from chalicelib.decision import ActionResult, Decision, decide
from chalicelib.evaluate import Facts, evaluate
from chalicelib.events import parse_record, rule_change
from chalicelib.outputs import chat, eventbus, securityhub

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "cloudtrail"
EVENT = "authorize-ingress-ssh-mixed-sources.json"
NOW = datetime(2026, 11, 20, 10, 2, 19, tzinfo=UTC)
ACCOUNT, REGION = "111122223333", "eu-west-1"


def example_decision() -> Decision:
    """The sample SSH event (an IAM user opens port 22 to the world), judged and revoked."""
    record = parse_record(json.loads((SAMPLE / EVENT).read_text()))
    change = rule_change(record)  # type: ignore[arg-type]
    baseline = load_baseline("aws-foundational")
    findings = evaluate(change.rules, baseline, Facts(group_names={change.group_id: "web"}))
    results = {r.rule_id: ActionResult("revoked") for r in change.rules if r.rule_id}
    return decide(change, findings, "enforce", "aws-foundational", results)


def examples() -> dict[str, Any]:
    decision = example_decision()
    imports = securityhub.imports(decision, securityhub.product_arn(REGION, ACCOUNT), NOW)
    entry = eventbus.entry(decision)
    return {
        "finding": imports.resolved[0],
        "chat": chat.notification(decision),
        "event": {
            "Source": entry["Source"],
            "DetailType": entry["DetailType"],
            "Resources": entry["Resources"],
            "Detail": '(the decision document, as in "The decision document")',
        },
    }


def main() -> None:
    for name, value in examples().items():
        print(f"--- {name}")
        print(json.dumps(value, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
