"""`engagesim explore`: its checks, the served page offline, and a real browser on it.

The server runs with its CDN pointed at a closed local port, so any front-end file
not installed locally fails loudly instead of being fetched from the internet. The
browser test drives Debian's chromium headless through Playwright; it is skipped when
either is missing, unless ``ENGAGESIM_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which
installs both) turns the skip into a failure.
"""

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

import numpy as np
import pytest
from explore_cases import explore_address

pytest.importorskip("solara")

from sim.cli import main
from sim.explore import serve

pytestmark = pytest.mark.slow  # a served page and a real browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CLOSED_CDN = "http://127.0.0.1:9/"  # the discard port: nothing listens there


def test_front_end_files_are_installed():
    required = serve.required_assets()
    assert any(name.startswith("@widgetti/solara-vuetify-app@") for name in required)
    assert any(name.startswith("requirejs@") for name in required)
    assert serve.missing_assets() == []


def test_bad_scenario_exits_2(capsys):
    assert main(["explore", "nosuch"]) == 2
    assert "no scenario named 'nosuch'" in capsys.readouterr().err


def test_busy_port_exits_2(capsys):
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["explore", "--port", str(port)]) == 2
    assert f"port {port} on localhost is in use" in capsys.readouterr().err


def test_bad_port_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["explore", "--port", "70000"])
    assert exit_.value.code == 2
    assert "a port is 0..65535" in capsys.readouterr().err


def test_missing_extra_exits_2_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(serve, "missing_requirements", lambda: serve.INSTALL_HINT)
    assert main(["explore"]) == 2
    assert 'pip install -e ".[explore]"' in capsys.readouterr().err


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture(scope="module")
def server():
    """``engagesim explore --port 0`` in a subprocess; yields the address it prints."""
    env = {**os.environ, "SOLARA_ASSETS_CDN": CLOSED_CDN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "explore", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        url = explore_address(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(url)[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the page did not come up within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_page_is_served_with_local_front_end_files(server):
    status, html = _get(server)
    assert status == 200
    assets = sorted(set(re.findall(rb'"(/_solara/cdn/[^"?]+)"', html)))
    assert any(b"solara-vuetify-app" in a for a in assets)
    for path in assets:  # with the CDN closed, only installed files can be served
        status, body = _get(server.rstrip("/") + path.decode())
        assert status == 200 and body, path


def _browser_or_skip():
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"no chromium at {CHROMIUM}"
    if problem:
        if os.environ.get("ENGAGESIM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test is required here, but {problem}")
        pytest.skip(problem)
    return sync_playwright


def _not_blank(png: bytes) -> tuple[float, int]:
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")[..., :3]
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    return float(pixels.std()), len(colours)


def test_a_real_browser_steps_the_page(server, tmp_path):
    sync_playwright = _browser_or_skip()
    host = urlparse(server).hostname
    external, failed = [], []

    def guard(route):
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in (host, "127.0.0.1"):
            external.append(route.request.url)
            return route.abort()
        return route.continue_()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.route("**/*", guard)
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            page.goto(server, timeout=60_000)
            step = page.get_by_role("button", name="Step")
            step.wait_for(timeout=60_000)
            charts = page.locator("img.solara-image")
            page.wait_for_function("document.querySelectorAll('img.solara-image').length >= 3")
            page.get_by_text("month 0").first.wait_for()
            before = [charts.nth(i).get_attribute("src") for i in range(3)]

            step.click()
            page.get_by_text("month 1").first.wait_for(timeout=30_000)
            page.wait_for_function(
                "([s]) => [...document.querySelectorAll('img.solara-image')]"
                ".slice(0, 3).every((img, i) => img.src !== s[i])",
                arg=[before],
                timeout=30_000,
            )

            # hover a customer (circles overlap: whichever is on top at that point)
            box = page.locator("circle.engagesim-customer").nth(40).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            row = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).getAttribute('data-id')", [x, y]
            )
            assert row not in (None, "0")  # the default customer would prove nothing
            page.mouse.move(x, y)
            page.get_by_text(f"Customer #{row} (").wait_for(timeout=15_000)

            # a click pins the customer; then play a few months and pause
            page.mouse.click(x, y)
            page.get_by_role("button", name="▶").click()
            page.get_by_text("month 4").first.wait_for(timeout=30_000)
            page.get_by_role("button", name="❚❚").click()
            # files some widgets fetch only once mounted (e.g. KaTeX for markdown)
            # must have had their chance to be requested before the checks below
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(3_000)

            shot = page.screenshot(full_page=True)
            (tmp_path / "explore.png").write_bytes(shot)

            # a second visitor (a classroom) gets a model and page state of its own
            other = browser.new_page()
            other.route("**/*", guard)
            other.goto(server, timeout=60_000)
            other.get_by_text("month 0").first.wait_for(timeout=60_000)
            other.get_by_text("Customer #0 (").wait_for(timeout=15_000)
        finally:
            browser.close()

    spread, colours = _not_blank(shot)
    assert spread > 0.05 and colours > 100, (spread, colours)
    assert external == [], external
    assert failed == [], failed
