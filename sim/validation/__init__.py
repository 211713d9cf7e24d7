"""Validation: the simulation checked against theory (``engagesim validate``).

One concept per module: :mod:`~sim.validation.checks` (the check type, verdicts,
tolerances, z-scores), one module per check group (:mod:`~sim.validation.markov`,
:mod:`~sim.validation.diffusion`, :mod:`~sim.validation.calibration`,
:mod:`~sim.validation.known_answers`), :mod:`~sim.validation.figures`,
:mod:`~sim.validation.report` and the orchestration in :mod:`~sim.validation.suite`
(:func:`~sim.validation.suite.run_validation`).
"""
