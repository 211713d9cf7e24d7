"""Analysis of a results folder: what the stored runs say, with their uncertainty.

:mod:`sim.analysis.outcomes` names every outcome (label, unit, better direction),
:mod:`sim.analysis.statistics` computes confidence intervals, paired differences and
winners, :mod:`sim.analysis.plots` draws the figures, and :mod:`sim.analysis.report`
writes ``summary.csv`` and ``report.md``. Nothing here runs a model.
"""
