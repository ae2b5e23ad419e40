"""Where security teams already look: Security Hub findings, a chat channel, EventBridge.

Each module renders the same decision document (``chalicelib.decision.Decision``) for one place, and
none of them judges anything again: ``securityhub``, ``chat`` and ``eventbus`` are pure renderers,
``deliver`` hands their output to the thin adapters and keeps one output's failure from costing the
others (README "How sgguard fails"). This ``__init__`` imports nothing, so that importing one renderer
never drags in boto3 or another renderer.
"""
