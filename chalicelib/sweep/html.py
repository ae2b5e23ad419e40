"""The audit's HTML report: one self-contained file a security team can open, mail and print.

No script, no external style, font or image: the page is HTML and an inline stylesheet with an inline
SVG chart, so it opens offline and nothing in it can call home. Every value from the report (group
names, rule descriptions, exemption reasons: anything an outsider may have written) is HTML-escaped.
It renders :class:`SweepReport` documents and re-judges nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from chalicelib.baseline import SEVERITY_ORDER
from chalicelib.notify import rule_words
from chalicelib.sweep.render import SEVERITIES, SWEEP_ACTION_WORDS, counts_line, restore_of, where
from chalicelib.sweep.report import ControlCount, GroupReport, SweepReport

COLOURS = {
    "CRITICAL": "#8b0000",
    "HIGH": "#c2410c",
    "MEDIUM": "#b45309",
    "LOW": "#1d4ed8",
    "INFORMATIONAL": "#4b5563",
}

_STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #111827; background: #f3f4f6; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { margin-bottom: 20px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 2px solid #d1d5db; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 6px; }
.meta { color: #4b5563; margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px;
  min-width: 120px; }
.card b { display: block; font-size: 22px; }
.card.bad b { color: #8b0000; }
.alert { background: #fef2f2; border: 1px solid #fca5a5; color: #7f1d1d; border-radius: 8px;
  padding: 10px 14px;
  margin: 10px 0; }
.ok { background: #f0fdf4; border: 1px solid #86efac; color: #14532d; border-radius: 8px;
  padding: 10px 14px; }
.summary { display: grid; grid-template-columns: minmax(260px, 360px) 1fr; gap: 20px; align-items: start; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 6px 0 10px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; font-size: 13px; color: #374151; }
td.id { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.sev { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 12px;
  font-weight: 600; }
.group { background: #fff; border: 1px solid #e5e7eb; border-left: 6px solid #9ca3af; border-radius: 8px;
  padding: 12px 16px; margin: 12px 0; }
.exposure { color: #374151; margin: 0 0 8px; }
.exposure.public { color: #8b0000; font-weight: 600; }
.restore { white-space: pre-wrap; word-break: break-all; background: #111827; color: #f9fafb;
  padding: 8px 10px;
  border-radius: 6px; margin: 4px 0 10px; }
.muted { color: #6b7280; }
.reason { color: #374151; font-size: 13px; }
footer { color: #6b7280; font-size: 13px; margin-top: 32px; }
@media (max-width: 800px) { .summary { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .group, .card, table { border-color: #999; box-shadow: none; }
  .group, tr { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .restore { background: #fff; color: #000; border: 1px solid #999; }
  .sev { color: #000; border: 1px solid #000; background: none !important; }
}
"""


_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Even if a value slipped through unescaped, the browser would run no script and fetch nothing."""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _sev(severity: str) -> str:
    return f'<span class="sev" style="background:{COLOURS.get(severity, "#4b5563")}">{_e(severity)}</span>'


def render_html(reports: Sequence[SweepReport], title: str = "sgguard audit") -> str:
    """The whole page for one or more reports (one per account and region)."""
    body = "\n".join(_report(r) for r in reports) if reports else '<p class="alert">Nothing was audited.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main>\n{body}\n"
        "<footer>Made by sgguard audit. Every rule was judged against the baseline named above; "
        "nothing on this page calls any server.</footer>\n"
        "</main></body></html>\n"
    )


def _report(report: SweepReport) -> str:
    t = report.totals
    origin = "saved describe output" if report.origin == "dump" else f"live sweep, {report.mode} mode"
    parts = [
        f'<section class="report" id="report-{_e(report.account)}-{_e(report.region)}">',
        f"<header><h1>Security groups of {_e(where(report))}</h1>",
        f'<p class="meta">{_e(origin)} · baseline <b>{_e(report.baseline)}</b> · '
        f"finished {_e(report.finished_at)}</p></header>",
    ]
    parts.extend(f'<p class="alert">Could not read: {_e(error)}</p>' for error in report.errors)
    if not report.complete:
        parts.append('<p class="alert">Incomplete: the counts cover only what was read.</p>')
    parts.append(f'<p class="meta" id="counts">{_e(counts_line(report))}</p>')
    groups_violating = sum(1 for g in report.groups if g.violating)
    cards = [
        ("rules judged", t.rules, False),
        ("violating rules", t.violating, t.violating > 0),
        ("groups with violations", groups_violating, groups_violating > 0),
        ("revoked", t.revoked, False),
        ("exempted", t.exempted, False),
        ("exemption expired", t.expired_exemption, t.expired_exemption > 0),
        ("could not be judged", t.not_judged, t.not_judged > 0),
    ]
    parts.append('<div class="cards">')
    parts.extend(
        f'<div class="card{" bad" if bad else ""}"><b>{n:,}</b>{_e(label)}</div>' for label, n, bad in cards
    )
    parts.append("</div>")
    if t.violating == 0 and not t.not_judged and not report.errors:
        parts.append('<p class="ok">No rule breaks the baseline.</p>')
    parts.append("<h2>Summary by control and severity</h2>")
    parts.append(f'<div class="summary"><div>{severity_chart(report)}</div>')
    parts.append(f"<div>{_controls_table(report.by_control, report.previous is not None)}</div></div>")
    parts.append(_groups(report))
    parts.append(_controls_explained(report.by_control))
    parts.append(_exemptions(report))
    parts.append(_restore(report))
    parts.append(_not_judged(report))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def severity_chart(report: SweepReport) -> str:
    """Violating rules per severity as horizontal bars: an inline SVG, so it prints and opens offline."""
    counts = [(s, report.by_severity.get(s, 0)) for s in SEVERITIES]
    top = max((n for _, n in counts), default=0) or 1
    row, label_w, bar_w = 26, 120, 170
    height = row * len(counts) + 8
    bars = []
    for i, (severity, n) in enumerate(counts):
        y = 4 + i * row
        width = round(bar_w * n / top) if n else 0
        bars.append(
            f'<text x="0" y="{y + 16}" font-size="12" fill="#374151">{_e(severity)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(width, 1)}" height="17" rx="3" '
            f'fill="{COLOURS[severity] if n else "#e5e7eb"}"><title>{_e(severity)}: {n}</title></rect>'
            f'<text x="{label_w + max(width, 1) + 6}" y="{y + 16}" font-size="12" fill="#111827">{n:,}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" '
        f'viewBox="0 0 {label_w + bar_w + 60} {height}" aria-label="violating rules by severity">'
        f"{''.join(bars)}</svg>"
    )


def _controls_table(controls: Sequence[ControlCount], with_new: bool) -> str:
    """Rules and groups per control; "new" (since the previous sweep) only when there was one."""
    if not controls:
        return '<p class="muted">No control is broken.</p>'
    rows = "".join(
        f"<tr><td><b>{_e(c.control)}</b></td><td>{_sev(c.severity)}</td><td>{_e(c.title)}</td>"
        f'<td class="n">{c.rules:,}</td><td class="n">{c.groups:,}</td>'
        + (f'<td class="n">{c.new:,}</td>' if with_new else "")
        + "</tr>"
        for c in controls
    )
    new = '<th class="n">new</th>' if with_new else ""
    return (
        '<table id="by-control"><tr><th>control</th><th>severity</th><th>title</th><th class="n">rules</th>'
        f'<th class="n">groups</th>{new}</tr>{rows}</table>'
    )


def _groups(report: SweepReport) -> str:
    violating = [g for g in report.groups if g.violating]
    if not violating:
        return ""
    parts = [f"<h2>Groups with violating rules, most exposed first ({len(violating):,})</h2>"]
    parts.extend(_group(g, report.previous is not None) for g in violating)
    return "\n".join(parts)


def _group(group: GroupReport, with_new: bool) -> str:
    name = f" ({group.group_name})" if group.group_name else ""
    extra = [f"VPC {group.vpc_id}"] if group.vpc_id else []
    if group.is_default:
        extra.append("the VPC's default group")
    exposure = group.exposure
    public = exposure is not None and (exposure.public > 0 or not exposure.known)
    words = exposure.in_words() if exposure is not None else "exposure not known"
    head = (
        f'<div class="group" style="border-left-color:{COLOURS.get(group.severity, "#9ca3af")}">'
        f'<h3>{_sev(group.severity)} <span class="mono">{_e(group.group_id)}</span>{_e(name)}'
        f' <span class="muted">{_e(", ".join(extra))}</span></h3>'
        f'<p class="exposure{" public" if public else ""}">{_e(words)}</p>'
    )
    rows = "".join(
        f'<tr><td class="mono id">{_e(f.rule_id or "(no id)")}</td><td>{_e(rule_words(f))}'
        + (f'<div class="muted">{_e(f.description)}</div>' if f.description else "")
        + f"</td><td>{_sev(f.severity)} {_e(', '.join(f.controls))}"
        + "".join(f'<div class="reason">{_e(w.control)}: {_e(w.reason)}</div>' for w in f.why)
        + f"</td><td>{_e(SWEEP_ACTION_WORDS[f.action])}"
        + (f'<div class="reason">{_e(f.error)}</div>' if f.error else "")
        + (f'<div class="reason">{_e(f.note)}</div>' if f.note else "")
        + ("<div><b>new since the previous sweep</b></div>" if f.new and with_new else "")
        + "</td></tr>"
        for f in sorted(group.findings, key=lambda f: -SEVERITY_ORDER[f.severity])
    )
    table = (
        "<table><tr><th>rule</th><th>what it opens</th><th>controls broken</th><th>action</th></tr>"
        f"{rows}</table>"
    )
    interfaces = ""
    if exposure is not None and exposure.interfaces:
        listed = "".join(
            f'<tr><td class="mono">{_e(i.interface_id)}</td><td>{_e(i.kind)}</td>'
            f'<td>{_e(i.attached_to or "")}</td><td class="mono">{_e(i.public_ip or "")}</td>'
            f'<td class="mono">{_e(i.private_ip or "")}</td></tr>'
            for i in exposure.interfaces
        )
        more = exposure.attached - len(exposure.interfaces)
        interfaces = (
            "<table><tr><th>interface</th><th>kind</th><th>attached to</th><th>public IP</th>"
            f"<th>private IP</th></tr>{listed}</table>"
            + (f'<p class="muted">and {more:,} more interfaces</p>' if more > 0 else "")
        )
    return head + table + interfaces + "</div>"


_SWEEP_REPORTS = '<div class="muted">reported only at a sweep (sweep = report)</div>'


def _controls_explained(controls: Sequence[ControlCount]) -> str:
    if not controls:
        return ""
    items = "".join(
        f"<tr><td><b>{_e(c.control)}</b></td><td>{_sev(c.severity)}</td><td><b>{_e(c.title)}</b>"
        + (f"<div>{_e(c.rationale)}</div>" if c.rationale else "")
        + (
            '<div class="muted">reported only at a sweep (sweep = report)</div>'
            if c.sweep == "report"
            else ""
        )
        + "</td></tr>"
        for c in controls
    )
    return (
        '<h2>The controls broken, and why they matter</h2><table id="controls"><tr><th>control</th>'
        f"<th>severity</th><th>title and rationale</th></tr>{items}</table>"
    )


def _exemptions(report: SweepReport) -> str:
    if not report.exemptions:
        return ""

    def rows(expired: bool) -> str:
        return "".join(
            f"<tr><td><b>{_e(e.id)}</b></td><td>{_e(', '.join(e.controls))}</td><td>{_e(e.reason)}</td>"
            f"<td>{_e(e.expires)}</td>"
            f'<td class="n">{e.rules_expired if expired else e.rules_lifted:,}</td></tr>'
            for e in report.exemptions
            if e.expired == expired
        )

    header = '<tr><th>exemption</th><th>controls</th><th>reason</th><th>{}</th><th class="n">{}</th></tr>'
    active, expired = rows(False), rows(True)
    parts = ["<h2>Exemptions</h2>"]
    if active:
        parts.append(
            '<h3>In force</h3><table id="exemptions-in-force">'
            + header.format("expires", "rules lifted")
            + active
            + "</table>"
        )
    if expired:
        parts.append(
            '<h3>Expired: the rules they allowed are violations now</h3><table id="exemptions-expired">'
            + header.format("expired after", "rules now violating")
            + expired
            + "</table>"
        )
    return "\n".join(parts)


def _restore(report: SweepReport) -> str:
    findings = [f for g in report.groups for f in g.findings if f.action in ("revoked", "would-revoke")]
    if not findings:
        return ""
    revoked = any(f.action == "revoked" for f in findings)
    if revoked:
        intro = "Each revoked rule can be put back exactly as it was with the command below."
    elif report.origin == "dump":
        intro = (
            "Nothing was revoked (this is saved output). An enforcing sweep or sgguard audit --fix would "
            "revoke these rules; the command below each puts it back exactly as it was."
        )
    else:
        intro = (
            "Nothing was revoked (report mode). With --fix these rules would be; the command below each "
            "puts it back exactly as it was."
        )
    items = "".join(
        f'<div><span class="mono">{_e(f.group_id)} {_e(f.rule_id or "")}</span> {_e(rule_words(f))}'
        f'<div class="restore mono">{_e(restore_of(f, report.region))}</div></div>'
        for f in findings
    )
    return f'<h2>How to restore</h2><p>{_e(intro)}</p><div id="restore">{items}</div>'


def _not_judged(report: SweepReport) -> str:
    rows = [
        (g.group_id, n.rule_id, ", ".join(n.controls), n.reason) for g in report.groups for n in g.not_judged
    ]
    rows += [("", None, ", ".join(n.controls), n.reason) for n in report.not_judged]
    if not rows:
        return ""
    body = "".join(
        f'<tr><td class="mono">{_e(g)}</td><td class="mono">{_e(r or "")}</td><td>{_e(c)}</td>'
        f"<td>{_e(why)}</td></tr>"
        for g, r, c, why in rows
    )
    return (
        '<h2>Could not be judged (never counted as a pass)</h2><table id="not-judged"><tr><th>group</th>'
        f"<th>rule</th><th>controls</th><th>why</th></tr>{body}</table>"
    )
