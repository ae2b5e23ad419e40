"""Headless Chromium (Debian's `chromium` package) for page tests and screenshots: no network, no profile.

Each run gets a new empty profile directory and every background service off (updates, sync, QUIC,
component downloads), so a render touches nothing outside the file it is given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """The browser to use: $CHROMIUM, else the first of CANDIDATES on PATH (None when there is none)."""
    given = os.environ.get("CHROMIUM")
    if given:
        return given if shutil.which(given) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(chromium: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="sgguard-chromium-") as profile:
        return subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )


def screenshot(chromium: str, page: Path, png: Path, width: int = 1280, height: int = 900) -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(
        chromium, f"--screenshot={png.resolve()}", f"--window-size={width},{height}", page.resolve().as_uri()
    )


def rendered_dom(chromium: str, page: Path) -> str:
    """The page's DOM after it was rendered (what a reader's browser shows, scripts and all)."""
    return _run(chromium, "--dump-dom", page.resolve().as_uri()).stdout


def printed_pdf(chromium: str, page: Path, pdf: Path) -> None:
    """The page as it prints (its @media print styles), to a PDF."""
    _run(chromium, f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer", page.resolve().as_uri())
