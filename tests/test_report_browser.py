"""The auditors' report opens in headless Chromium (Debian's `chromium`) without a server: no
console errors, no exceptions, every figure decoded and visible. Driven through the DevTools
protocol over a pipe (--remote-debugging-pipe), so no port is opened. Skips only where no
Chromium is installed."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 60.0

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian package chromium)")


class DevTools:
    """A minimal DevTools-protocol client over Chromium's pipe (fd 3 in, fd 4 out, NUL-framed)."""

    def __init__(self, user_data_dir: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds() -> None:
            # Out of the way first (either end may already sit on fd 3 or 4), then onto 3 and 4, inheritable.
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def open_page(page: Path, user_data_dir: Path) -> tuple[list[dict], dict, bytes]:
    """Load `page`; its console errors and exceptions, what the figures look like, and a screenshot."""
    browser = DevTools(user_data_dir)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        state = browser.send(
            "Runtime.evaluate",
            {
                "expression": """JSON.stringify({
                    title: document.title,
                    verdict: (document.querySelector('.verdict') || {}).textContent || null,
                    headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
                    images: Array.from(document.images).map(i => {
                        const box = i.getBoundingClientRect();
                        const style = getComputedStyle(i);
                        return {complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
                                shownWidth: box.width, shownHeight: box.height,
                                visible: style.display !== 'none' && style.visibility !== 'hidden',
                                inline: i.src.startsWith('data:image/')};
                    }),
                    external: Array.from(document.querySelectorAll('[src],link[href],script'))
                        .map(e => e.getAttribute('src') || e.getAttribute('href') || 'script')
                        .filter(u => !u.startsWith('data:')),
                })""",
                "returnByValue": True,
            },
            session=session,
        )
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        errors = [
            e
            for e in browser.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
        ]
        return errors, json.loads(state["result"]["value"]), base64.b64decode(shot["data"])
    finally:
        browser.close()


def test_report_renders_in_headless_chromium_with_visible_figures_and_no_errors(quick_run, tmp_path):
    page = quick_run.reports / "index.html"
    errors, state, screenshot = open_page(page, tmp_path / "chromium-profile")
    assert errors == [], errors
    assert state["verdict"] and state["verdict"].startswith("Release verdict")
    assert [h.split(". ", 1)[-1] for h in state["headings"][:6]] == [
        "Detection",
        "Content, metadata and fused",
        "False positives",
        "Fairness",
        "Early warning",
        "Calibration",
    ]
    assert len(state["images"]) >= 4  # ROC/PR, reliability, per-group FPR, latency at least
    for image in state["images"]:
        assert image["inline"] and image["complete"] and image["visible"], image
        assert image["width"] > 50 and image["height"] > 50, image  # decoded, not a broken icon
        assert image["shownWidth"] > 50 and image["shownHeight"] > 50, image
    assert state["external"] == []  # self-contained: nothing to fetch
    assert screenshot.startswith(b"\x89PNG")


def test_a_broken_figure_is_caught(tmp_path):
    """The check above can fail: a page with an undecodable figure and a console error."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>x</title></head><body>"
        "<div class='verdict'>Release verdict: FAIL</div><img src='data:image/png;base64,AAAA'>"
        "<script>console.error('synthetic error 1')</script></body></html>"
    )
    errors, state, _ = open_page(page, tmp_path / "chromium-profile")
    assert errors, "the console error was not seen"
    assert state["images"][0]["width"] == 0
