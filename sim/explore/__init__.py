"""The live page for students: ``engagesim explore``.

Two policies run side by side on the same customers and the same random numbers
(:mod:`sim.explore.paired`), a few levers scale the scenario (:mod:`sim.explore.levers`),
and a Mesa SolaraViz page shows them (:mod:`sim.explore.page`). Only the page needs the
``explore`` extra (solara); the levers and the paired model are plain Python.
"""
