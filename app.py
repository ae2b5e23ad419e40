"""sgguard's Chalice app: triggers wired to chalicelib, nothing else."""

from chalice.app import Chalice

from chalicelib.handler import handle_event
from chalicelib.trigger import SECURITY_GROUP_RULE_CHANGES

app = Chalice(app_name="sgguard")


@app.on_cw_event(SECURITY_GROUP_RULE_CHANGES, name="on_security_group_change")
def on_security_group_change(event):  # type: ignore[no-untyped-def]
    """A security-group rule was added or changed somewhere in this account and region."""
    return handle_event(event.to_dict())
