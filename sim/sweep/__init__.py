"""Sweeps: run an experiment's design points × policies × replications and store them.

:mod:`sim.sweep.design` reads experiment files into designs and runs (with their seeds),
:mod:`sim.sweep.runner` executes the runs (joblib: local processes or Dask), and
:mod:`sim.sweep.store` writes each result atomically into the output folder
(``rows/``, ``series/``, ``runs.csv``, ``manifest.json``).
"""
