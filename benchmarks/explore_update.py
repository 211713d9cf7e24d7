"""How long one step of the live page takes: the model, the charts, the whole update.

A page update steps both runs, then redraws every panel (three matplotlib charts, the
network, the tables). This script renders the page with solara's test renderer (no
browser; the browser's own drawing is not included), presses Step repeatedly, and
prints milliseconds per update for a few population sizes, with the model step and the
chart drawing timed separately. The last line is JSON.

Usage:
    python benchmarks/explore_update.py [--customers 2000,20000] [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import time

import ipyvuetify as v
import solara

from sim.engine.scenario import load_scenario
from sim.explore import charts
from sim.explore.page import initial_kwargs, make_app, model_params
from sim.explore.paired import PairedModel


def page_update_ms(customers: int, steps: int) -> float:
    """Mean wall time of one Step click on the rendered page."""
    _, rc = solara.render(make_app("default")(), handle_error=False)
    sliders = {w.label: w for w in rc.find(v.Slider).widgets}
    sliders["Customers"].v_model = customers
    rc.find(v.Btn, children=["Reset"]).widget.click()
    step = rc.find(v.Btn, children=["Step"]).widget
    step.click()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step.click()
    elapsed = time.perf_counter() - start
    rc.close()
    return 1000 * elapsed / steps


def parts_ms(customers: int, steps: int) -> tuple[float, float]:
    """Mean milliseconds of a model step (both runs) and of drawing the three charts."""
    kwargs = initial_kwargs(model_params(load_scenario("default")))
    model = PairedModel(**{**kwargs, "customers": customers})
    model.step()
    step_s = draw_s = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        model.step()
        t1 = time.perf_counter()
        for figure in (charts.stages_figure(model), charts.money_figure(model),
                       charts.service_figure(model)):
            charts.png(figure)
        draw_s += time.perf_counter() - t1
        step_s += t1 - t0
    return 1000 * step_s / steps, 1000 * draw_s / steps


def main() -> None:
    """Print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", default="2000,20000")
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    results = []
    print(f"{'customers':>9} {'model step ms':>14} {'charts ms':>10} {'page update ms':>15}")
    for n in (int(x) for x in args.customers.split(",")):
        step_ms, draw_ms = parts_ms(n, args.steps)
        update_ms = page_update_ms(n, args.steps)
        print(f"{n:>9} {step_ms:>14.1f} {draw_ms:>10.1f} {update_ms:>15.1f}")
        results.append({"customers": n, "model_step_ms": round(step_ms, 2),
                        "charts_ms": round(draw_ms, 1), "page_update_ms": round(update_ms, 1)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
