"""Serving the live page: checks first, then solara's own server.

``engagesim explore`` loads the scenario (bad input: exit 2 before anything starts),
checks that the page's front-end files are installed, finds the port, prints the
address and then runs ``solara run sim.explore.app`` in this process. The scenario
reaches the app module through the :data:`SCENARIO_ENV` environment variable.

**Offline.** The solara server asks its CDN proxy for the browser files (Vue, Vuetify,
require.js, fonts, the grid layout) and caches them under
``<venv>/share/solara/cdn/``. The ``explore`` extra installs the ``solara-assets``
package, which puts exactly those files there, so the page never reaches the internet.
:func:`missing_assets` lists any the installed solara asks for that are absent (a
solara upgrade can ask for new versions; ``pyproject.toml`` pins a matching range).
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

    os.environ[SCENARIO_ENV] = scenario
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    args = [
        APP_MODULE,
        "--host", host,
        "--port", str(port),
        "--production",
        "--no-open",
        "--log-level", "warning",
    ]
    try:
        solara_run.main(args, prog_name="engagesim explore", standalone_mode=False)
    except SystemExit as exc:  # pragma: no cover - depends on how the server stops
        return int(exc.code or 0)
    sys.stdout.flush()
    return 0
