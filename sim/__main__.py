"""`python -m sim`: the engagesim command line."""

import sys

from sim.cli import main

sys.exit(main())
