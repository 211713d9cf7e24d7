"""`python -m sim`: the engagesim command line."""

import sys

from sim.cli import main

if __name__ == "__main__":  # not when a worker process imports the main module
    sys.exit(main())
