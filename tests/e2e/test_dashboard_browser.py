"""The dashboard in a real browser: headless Chromium driven over the DevTools protocol.

Chromium talks DevTools over a pipe (``--remote-debugging-pipe``: it reads
commands on fd 3 and writes replies and events on fd 4, each a JSON text ended
by a NUL byte), so no port, no websocket library and no race on start-up. The
test loads the index and one group page from disk, fails on any console error,
uncaught exception, log error (CSP violations, failed loads) or request that is
not file:, checks in the live DOM that the plots were laid out, and saves
screenshots under reports/tests/.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from lseprof.reports.dashboard import build_dashboard, group_file
from tests.e2e.test_dashboard import HOSTILE_HOST, RUST_SYMBOL, commit_of, history, stored
from tests.helpers import ARTIFACTS, needs_tool

CHROMIUM = Path("/usr/bin/chromium")

TIMEOUT_S = 60.0

pytestmark = needs_tool("chromium", CHROMIUM.exists())

# Runs in the page through DevTools (page CSP does not apply to it); returns JSON text.
PROBE = """JSON.stringify({
  svgs: document.querySelectorAll('svg').length,
  paths: document.querySelectorAll('svg path').length,
  laidOut: Array.from(document.querySelectorAll('svg')).filter(s => {
      const r = s.getBoundingClientRect(); return r.width > 300 && r.height > 60; }).length,
  svgText: Array.from(document.querySelectorAll('svg text')).map(t => t.textContent),
  scripts: document.querySelectorAll('script').length,
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  text: document.body.innerText,
  height: document.documentElement.scrollHeight,
})"""


class DevTools:
    """A headless Chromium and one page, driven over --remote-debugging-pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        argv = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash puts the pipe ends on fds 3 and 4, where Chromium expects them.
        script = (
            f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} '
            f"{to_browser_r}<&- {from_browser_w}>&-"
        )
        self._log = (profile.parent / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", script, *argv],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (rc {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        result: dict[str, Any] = json.loads(message)
        return result

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read(deadline)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._read(deadline))

    def open_page(self) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    def load(self, path: Path) -> dict[str, Any]:
        """Navigate to a file, wait for its load event, and return the probe's result."""
        return self.load_url(path.as_uri())

    def load_url(self, url: str, probe: str = PROBE, settle_s: float = 0.0) -> dict[str, Any]:
        """Navigate to `url`, wait for its load event (and `settle_s` more, for pages
        that render after it), and return `probe`'s JSON result."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        end = time.monotonic() + settle_s
        while time.monotonic() < end:  # keep reading events (console errors) meanwhile
            with contextlib.suppress(TimeoutError):
                self.events.append(self._read(min(end, time.monotonic() + 0.2)))
        value = self.call("Runtime.evaluate", expression=probe, returnByValue=True)
        probe: dict[str, Any] = json.loads(value["result"]["value"])
        return probe

    def problems(self) -> list[str]:
        """Console errors, exceptions, log errors and non-file requests seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log: {params['entry'].get('text')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    found.append(f"request: {url}")
        return found

    def screenshot(self, path: Path, height: int) -> None:
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": min(height, 5000), "scale": 1},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()


def test_dashboard_renders_in_chromium(tmp_path: Path) -> None:
    records = history(
        40, series=[("rayon", 1), ("rayon", 8), ("rayon", 88), ("window", 88)], step_at=34
    )
    records += history(6, series=[("window", 8)], host=HOSTILE_HOST, seed=1)
    _, runs = stored(tmp_path, records)
    index = build_dashboard(runs, tmp_path / "dash")
    group = index.parent / "groups" / group_file("night0034-0")  # first night after the step
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open_page()
        main = browser.load(index)
        assert browser.problems() == []
        browser.screenshot(ARTIFACTS / "dashboard-index.png", main["height"])
        page = browser.load(group)
        assert browser.problems() == []
        browser.screenshot(ARTIFACTS / "dashboard-group.png", page["height"])
    finally:
        browser.close()

    # Index: 5 series plots and one scaling plot, all laid out, with drawn paths.
    assert main["svgs"] == main["laidOut"] == 6
    assert main["paths"] > 100
    assert main["scripts"] == 0
    # The step is marked on the plot, with the commits around it (text in the SVG).
    label = f"{commit_of(33)[:10]}\u2192{commit_of(34)[:10]}"
    assert sum(label in t for t in main["svgText"]) == 2
    assert "throughput regression" in main["text"]
    # The hostile hostname is text, not markup.
    assert HOSTILE_HOST in main["text"]
    assert group.as_uri() in main["links"]

    assert page["svgs"] == page["laidOut"] == 1 and page["paths"] > 10
    assert page["scripts"] == 0
    assert RUST_SYMBOL in page["text"]
    assert index.as_uri() in page["links"]


def test_the_probe_sees_errors_and_fetches(tmp_path: Path) -> None:
    """The checks above are not vacuous: pages that break the rules are caught."""
    blocked = tmp_path / "blocked.html"
    blocked.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\"></head><body><script>console.error('boom')</script>"
        "</body></html>"
    )
    loose = tmp_path / "loose.html"
    loose.write_text(
        '<!DOCTYPE html><html><body><img src="http://localhost:9/x.png">'
        "<script>console.error('boom')</script></body></html>"
    )
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open_page()
        browser.load(blocked)
        csp = browser.problems()
        browser.load(loose)
        other = browser.problems()
    finally:
        browser.close()
    assert any("Content Security Policy" in p for p in csp), csp
    assert any(p.startswith("console:") and "boom" in p for p in other), other
    assert any(p == "request: http://localhost:9/x.png" for p in other), other
