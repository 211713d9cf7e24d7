"""The live page's ``/_solara/cdn/`` route serves the files it ships and nothing else.

Solara's own handler is a caching proxy: a path without a file is fetched from the
public CDN and written to the asset folder, and a path naming a folder deletes it. The
server test points the CDN at a local listener that records every connection and the
asset folder at a small temporary copy, then asks for unknown paths, a folder and a
path leading out: each is a quick 404, the listener is never called and the folder is
unchanged, while a shipped file is still served byte for byte.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from explore_cases import explore_address

pytest.importorskip("solara")

from sim.explore import serve


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root``: relative path → (size, mtime in ns)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def assets(tmp_path):
    base = tmp_path / "cdn"
    (base / "pkg@1.0.0" / "dist").mkdir(parents=True)
    (base / "pkg@1.0.0" / "dist" / "pkg.js").write_text("pkg();\n")
    (base / "pkg@1.0.0" / "__main.js").write_text("main();\n")
    (tmp_path / "secret.txt").write_text("not an asset\n")
    (base / "pkg@1.0.0" / "leak.js").symlink_to(tmp_path / "secret.txt")
    return base


def test_a_shipped_file_is_found(assets):
    found = serve.shipped_asset(assets, "pkg@1.0.0/dist/pkg.js")
    assert found.read_text() == "pkg();\n"


def test_a_bare_package_is_its_main_file(assets):
    assert serve.shipped_asset(assets, "pkg@1.0.0").name == "__main.js"


@pytest.mark.parametrize("path", [
    "pkg@1.0.0/dist/missing.js",      # not shipped
    "other@2.0.0/x.js",               # unknown package
    "other@2.0.0",                    # unknown bare package
    "pkg@1.0.0/dist",                 # a folder (solara's proxy would delete it)
    "",                               # the folder itself
    "../secret.txt",                  # out of the folder
    "pkg@1.0.0/../../secret.txt",
    "pkg@1.0.0/leak.js",              # a link out of the folder
])
def test_anything_else_is_refused(assets, path):
    before = _tree(assets)
    with pytest.raises(FileNotFoundError):
        serve.shipped_asset(assets, path)
    assert _tree(assets) == before


def test_solaras_lookup_is_replaced(assets, monkeypatch):
    import solara.server.cdn_helper as cdn_helper

    monkeypatch.setattr(cdn_helper, "get_path", cdn_helper.get_path)
    monkeypatch.setattr(cdn_helper, "get_data", cdn_helper.get_data)
    # solara ≥ 1.59 fetches through fetch_from_cdn; 1.58 (the floor) has none
    monkeypatch.setattr(cdn_helper, "fetch_from_cdn",
                        getattr(cdn_helper, "fetch_from_cdn", None), raising=False)
    starlette_server = sys.modules.get("solara.server.starlette")
    if starlette_server is not None:
        monkeypatch.setattr(starlette_server, "get_path", starlette_server.get_path)
    serve.serve_shipped_assets_only()
    with pytest.raises(FileNotFoundError):
        cdn_helper.get_path(assets, "pkg@1.0.0/dist")
    assert (assets / "pkg@1.0.0" / "dist" / "pkg.js").is_file()
    with pytest.raises(FileNotFoundError):
        cdn_helper.get_data(assets, "other@2.0.0/x.js")
    with pytest.raises(PermissionError):
        cdn_helper.fetch_from_cdn("https://cdn.jsdelivr.net/npm/x@1.0.0/x.js")


class _Listener:
    """A TCP port that accepts, records and drops every connection: a CDN that logs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.calls = 0
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.calls += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def _get(url: str) -> tuple[int, bytes, float]:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
    return status, body, time.monotonic() - start


SHIPPED = "requirejs@2.3.6/require.js"


@pytest.mark.slow  # starts the page's server
def test_the_server_neither_fetches_nor_writes(tmp_path):
    shipped = serve.asset_dir() / SHIPPED
    if not shipped.is_file():
        pytest.skip(f"{shipped} is not installed")
    base = tmp_path / "cdn"
    (base / SHIPPED).parent.mkdir(parents=True)
    shutil.copyfile(shipped, base / SHIPPED)
    (base / "pkg@1.0.0" / "dist").mkdir(parents=True)
    (base / "pkg@1.0.0" / "dist" / "pkg.js").write_text("pkg();\n")
    before = _tree(base)
    cdn = _Listener()
    env = {**os.environ, "SOLARA_ASSETS_CDN": f"http://127.0.0.1:{cdn.port}/",
           "SOLARA_ASSETS_PROXY_CACHE_DIR": str(base)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "explore", "--port", "0", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        url = explore_address(proc) + "_solara/cdn/"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body, _ = _get(url + SHIPPED)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not come up in 60 s"
                time.sleep(0.3)
        assert status == 200 and body == shipped.read_bytes()

        for path in ["somepkg@1.0.0/x.js", "somepkg@1.0.0", "pkg@1.0.0/dist",
                     "pkg@1.0.0/dist/", "pkg@1.0.0/missing.js", "%2e%2e/secret.txt",
                     "pkg@1.0.0/%2e%2e/%2e%2e/x.js"]:
            status, _, seconds = _get(url + path)
            assert status == 404, path
            assert seconds < 2, (path, seconds)
        assert _get(url + "pkg@1.0.0/dist/pkg.js")[:2] == (200, b"pkg();\n")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        cdn.close()
    assert cdn.calls == 0
    assert _tree(base) == before
