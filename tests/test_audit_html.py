"""The HTML report as a reader gets it: one self-contained file, rendered by a real browser (headless
Chromium), whose page shows the counts, the worst group first, the controls, the exemptions in force and
expired, and how to restore; and which prints."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from devtools.audit_example import write_example
from devtools.browser import find_chromium, printed_pdf, rendered_dom, screenshot

SGGUARD = str(Path(sys.executable).with_name("sgguard"))
WORST = "sg-0a11c0ffee0000001"  # web-public: SSH open to the world on 2 public load-balancer interfaces


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("audit-html")
    files = write_example(directory)
    out = directory / "audit.html"
    dumps = [str(files[k]) for k in ("rules", "groups", "interfaces", "prefix-lists", "entries")]
    result = subprocess.run(
        [SGGUARD, "audit", "--from", *dumps, "--baseline", str(files["baseline"]), "--format", "html",
         "--output", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    return out


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium on this machine, so the HTML report's render is not checked here: "
            "apt-get install -y chromium (CI's .ci/run installs it)"
        )
    return found


class _Text(HTMLParser):
    """The page's visible text, and the ids and tags it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


def _parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def test_the_file_is_self_contained(page: Path) -> None:
    html = page.read_text()
    parsed = _parse(html)
    assert not [t for t, _ in parsed.tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [a for _, a in parsed.tags if any(k in a for k in ("src", "href", "onload", "onerror"))]
    assert not re.search(r"url\(|@import|@font-face", html)
    assert "Content-Security-Policy" in html
    assert "default-src 'none'" in html
    assert "@media print" in html
    assert "<svg" in html  # the chart is inline


def test_rendered_in_chromium_shows_counts_worst_group_exemptions_and_restore(
    page: Path, chromium: str, tmp_path: Path
) -> None:
    text = " ".join(_parse(rendered_dom(chromium, page)).text)
    assert "21 rules in 9 groups judged, 9 violating (6 CRITICAL, 3 HIGH)" in text
    assert "Groups with violating rules, most exposed first (6)" in text
    first_group = text.index("most exposed first")
    assert text.index(WORST, first_group) < min(
        text.index(g, first_group) for g in ("sg-0a11c0ffee0000003", "sg-0a11c0ffee0000004")
    )
    assert "on 3 network interfaces (2 load balancer, 1 instance), 2 with a public IP" in text
    assert "VPC default security groups should not allow inbound or outbound traffic" in text
    assert "it must stay closed so that nothing is exposed by accident" in text  # a control's rationale
    exemptions = text[text.index("Exemptions In force") : text.index("How to restore")]
    assert re.search(
        r"In force .* JIT-SSH-BASTION EC2.13, EC2.53, EC2.18, EC2.19 SSH from anywhere", exemptions
    )
    assert re.search(r"Expired: the rules they allowed are violations now .* VENDOR-RDP EC2.14", exemptions)
    assert "JIT-SSH-BASTION" not in exemptions[exemptions.index("Expired") :]
    assert (
        "aws ec2 authorize-security-group-ingress --region eu-west-1 --group-id sg-0a11c0ffee0000001" in text
    )

    png = tmp_path / "audit.png"
    screenshot(chromium, page, png, width=1280, height=1600)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
    assert len(data) > 50_000  # a page, not a blank


def test_it_prints(page: Path, chromium: str, tmp_path: Path) -> None:
    pdf = tmp_path / "audit.pdf"
    printed_pdf(chromium, page, pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2  # several pages, not one cut off
