"""Serving the live page: checks first, then solara's own server.

``engagesim explore`` loads the scenario (bad input: exit 2 before anything starts),
checks that the page's front-end files are installed, finds the port, prints the
address and then runs ``solara run sim.explore.app`` in this process. The scenario
reaches the app module through the :data:`SCENARIO_ENV` environment variable.

**Offline, and read-only.** The page asks the solara server for its browser files (Vue,
Vuetify, require.js, fonts, the grid layout) under ``/_solara/cdn/pkg@ver/...``. The
``explore`` extra installs the ``solara-assets`` package, which puts exactly those files
under ``<venv>/share/solara/cdn/``. Solara's own handler of that route is a caching
proxy: a path it has no file for is fetched from the public CDN (retrying for seconds)
and written into that folder, and a path naming a folder deletes the folder first, so
any client (``--host 0.0.0.0`` lets in the whole network) could make the server fetch,
write and delete. :func:`serve_shipped_assets_only` replaces that lookup with
:func:`shipped_asset`: a regular file inside the folder or a 404, never a fetch, a write
or a delete. :func:`missing_assets` lists the files the installed solara asks for that
are absent (a solara upgrade can ask for new versions; ``pyproject.toml`` pins a
matching range); without them the page cannot load.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

SCENARIO_ENV = "ENGAGESIM_EXPLORE_SCENARIO"
APP_MODULE = "sim.explore.app"
INSTALL_HINT = 'the live page needs the explore extra: pip install -e ".[explore]"'

# "{{cdn}}/@widgetti/solara-vuetify-app@10.1.1/dist/..." or "${this.getCdn()}/pkg@1.2.3/..."
CDN_PACKAGE = re.compile(
    r"(?:\{\{\s*cdn\s*\}\}|\$\{this\.getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/"
)


def missing_requirements() -> str | None:
    """Return an install hint if solara or Mesa's visualisation cannot be imported."""
    try:
        import mesa.visualization  # noqa: F401
        import solara  # noqa: F401
    except ImportError as exc:
        return f"{INSTALL_HINT} ({exc})"
    return None


def required_assets() -> list[str]:
    """CDN packages (``name@version``) the page asks the solara server for.

    Read from the installed solara: its page template, the grid layout Mesa's
    SolaraViz arranges components with, and the font-awesome setting. The template
    names both the Vue 2 and the Vue 3 bundle and picks one by the installed ipyvue's
    major version (3 → Vue 3), so only that one counts.
    """
    import ipyvue
    import solara
    import solara.server.settings as settings

    root = Path(solara.__file__).parent
    sources = [
        root / "server" / "templates" / "solara.html.j2",
        root / "widgets" / "vue" / "gridlayout.vue",
    ]
    found = set()
    for source in sources:
        found.update(CDN_PACKAGE.findall(source.read_text(encoding="utf-8")))
    vue3 = ipyvue.__version__.startswith("3")
    found = {name for name in found if ("vuetify3-app" in name) == vue3 or "vuetify" not in name}
    if settings.assets.fontawesome_enabled:
        found.add(settings.assets.fontawesome_path.strip("/").split("/")[0])
    return sorted(found)


def asset_dir() -> Path:
    """Where the solara server looks for front-end files before asking the CDN."""
    import solara.server.settings as settings

    return Path(settings.assets.proxy_cache_dir)


def missing_assets() -> list[str]:
    """The :func:`required_assets` not installed under :func:`asset_dir`."""
    base = asset_dir()
    return [name for name in required_assets() if not (base / name).is_dir()]


def shipped_asset(base: Path, path: str) -> Path:
    """The installed front-end file ``path`` names under ``base``; never fetches.

    Solara's rule for a bare package (``requirejs@2.3.6`` → its ``__main.js``) is
    kept. Anything that is not a regular file inside ``base`` after resolving
    ``..`` and links (a folder, a missing file, a path leading out) is refused.

    Args:
        base: The asset folder (:func:`asset_dir`).
        path: The part of the URL after ``/_solara/cdn/``.

    Returns:
        The file's resolved path.

    Raises:
        FileNotFoundError: ``path`` names no shipped file (the server answers 404).
    """
    parts = [part for part in path.replace("\\", "/").split("/") if part]
    if len(parts) == 1:
        parts.append("__main.js")
    root = Path(os.path.realpath(base))
    target = Path(os.path.realpath(root.joinpath(*parts))) if parts else root
    if not target.is_relative_to(root) or not target.is_file():
        raise FileNotFoundError(f"no shipped front-end file {path!r}")
    return target


def _refuse_fetch(url: str) -> bytes:
    raise PermissionError(f"engagesim serves only installed front-end files, not {url}")


def serve_shipped_assets_only() -> None:
    """Make solara's ``/_solara/cdn/`` route serve installed files only.

    Replaces solara's caching-proxy lookup (``cdn_helper.get_path``, also under the
    name the starlette module imported it by, if already imported) with
    :func:`shipped_asset`, and its fetch with one that refuses, so no request can
    make the server reach the network or change the asset folder. Call before the
    server starts; calling again is harmless.
    """
    import solara.server.cdn_helper as cdn_helper

    def get_path(base_cache_dir: Path, path: str) -> Path:
        return shipped_asset(Path(base_cache_dir), path)

    def get_data(base_cache_dir: Path, path: str) -> bytes:
        return shipped_asset(Path(base_cache_dir), path).read_bytes()

    cdn_helper.get_path = get_path
    cdn_helper.get_data = get_data  # the flask and jupyter servers' lookup
    cdn_helper.fetch_from_cdn = _refuse_fetch  # solara ≥ 1.59's fetch (absent before)
    starlette_server = sys.modules.get("solara.server.starlette")
    if starlette_server is not None:
        starlette_server.get_path = get_path


def free_port(host: str) -> int:
    """Ask the operating system for a free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def serve(scenario: str, host: str, port: int) -> int:
    """Run the page's server until interrupted.

    Args:
        scenario: Shipped scenario name or path (already validated).
        host: Interface to listen on.
        port: TCP port (free: checked by the caller).

    Returns:
        The server's exit status.
    """
    from solara.__main__ import run as solara_run

    serve_shipped_assets_only()
    os.environ[SCENARIO_ENV] = scenario
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    args = [
        APP_MODULE,
        "--host", host,
        "--port", str(port),
        "--production",
        "--no-open",
        "--no-check-version",  # solara would ask pypi.org for its latest version
        "--log-level", "warning",
    ]
    try:
        solara_run.main(args, prog_name="engagesim explore", standalone_mode=False)
    except SystemExit as exc:  # pragma: no cover - depends on how the server stops
        return int(exc.code or 0)
    sys.stdout.flush()
    return 0
