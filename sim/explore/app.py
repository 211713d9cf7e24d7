"""The module ``solara run`` serves: the page for the scenario ``engagesim explore`` chose.

The scenario arrives in the ``ENGAGESIM_EXPLORE_SCENARIO`` environment variable (a
shipped name or a path); without it, the default scenario.
"""

from __future__ import annotations

import os

from sim.explore.page import make_page
from sim.explore.serve import SCENARIO_ENV

Page = make_page(os.environ.get(SCENARIO_ENV, "default"))
