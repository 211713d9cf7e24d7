"""Theory the simulation is checked against, and calibration to data.

* :mod:`sim.theory.expressibility` — can a Markov chain over stages express a scenario,
  and if not, which features (by key path) stand in the way;
* :mod:`sim.theory.markov` — the chain's exact expectations of a run (occupancy,
  retention, tenure, customer lifetime value); :mod:`sim.theory.markov_report` — their
  text report;
* :mod:`sim.theory.bass` — Bass diffusion: the closed form and the discrete recursion;
* :mod:`sim.theory.cohorts` — cohort retention tables (``period,alive[,segment]``);
* :mod:`sim.theory.sbg` — the shifted-beta-geometric churn model and its
  maximum-likelihood fit;
* :mod:`sim.theory.calibration` — calibrating a table: fits, forecasts, the scenario
  fragment and the files ``engagesim calibrate`` writes.
"""
