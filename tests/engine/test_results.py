"""`engagesim run` outputs: contents, byte-identical reruns, CLI == Python API."""

import json

import numpy as np
import pandas as pd

from sim import EngagementModel, load_scenario
from sim.cli import main

SUMMARY_KEYS = {
    "scenario", "policy", "seed", "customers", "months", "retention", "churned", "ltv_mean",
    "cost_per_customer", "profit_per_customer", "revenue_total", "cost_total", "ltv_to_cac",
    "nps", "engagement_index", "csm_utilisation", "referrals", "version",
}


def run_cli(tmp_path, name, *extra):
    out = tmp_path / name
    args = ["run", "default", "--policy", "high_touch", "--seed", "7", "--customers", "1500",
            "--months", "14", "--out", str(out), "--quiet", *extra]
    assert main(args) == 0
    return out


def test_outputs_have_the_promised_contents(tmp_path):
    out = run_cli(tmp_path, "a")
    summary = json.loads((out / "summary.json").read_text())
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["retention"].keys() == {"3", "6", "12"}  # 24 is past a 14-month horizon
    assert (summary["customers"], summary["months"], summary["seed"]) == (1500, 14, 7)
    ts = pd.read_csv(out / "timeseries.csv")
    stages = load_scenario("default").lifecycle.names
    assert list(ts["step"]) == list(range(1, 15))
    assert set(stages) <= set(ts.columns)
    assert (ts[list(stages)].sum(axis=1) == 1500).all()
    for col in ("revenue", "cost_total", "engagement_index", "nps", "satisfaction_mean",
                "referrals", "csm_utilisation", "active", "churned"):
        assert col in ts.columns
    customers = pd.read_csv(out / "customers.csv")
    assert len(customers) == 1500
    for col in ("id", "segment", "churn_propensity", "human_preference", "final_stage",
                "tenure", "revenue", "cost_to_serve", "ltv", "referrals"):
        assert col in customers.columns
    assert customers["referrals"].sum() == summary["referrals"]
    assert np.isclose(customers["revenue"].sum(), summary["revenue_total"])


def test_same_inputs_give_byte_identical_files(tmp_path):
    a, b = run_cli(tmp_path, "a"), run_cli(tmp_path, "b")
    for name in ("summary.json", "timeseries.csv", "customers.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = tmp_path / "c"
    main(["run", "default", "--policy", "high_touch", "--seed", "8", "--customers", "1500",
          "--months", "14", "--out", str(c), "--quiet"])
    assert (a / "customers.csv").read_bytes() != (c / "customers.csv").read_bytes()


def test_python_api_gives_the_same_results_as_the_cli(tmp_path):
    out = run_cli(tmp_path, "a")
    model = EngagementModel(load_scenario("default"), "high_touch", rng=7, customers=1500,
                            months=14).run()
    summary = json.loads((out / "summary.json").read_text())
    api = json.loads(json.dumps(model.summary(seed=7), default=float))
    assert api["retention"] == summary["retention"]
    assert api["profit_per_customer"] == summary["profit_per_customer"]
    ts = pd.read_csv(out / "timeseries.csv")
    assert np.allclose(ts["revenue"], model.timeseries()["revenue"], rtol=1e-15)


def test_scenarios_command_lists_shipped_scenarios(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "default" in names and "constant_churn" in names
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_run_accepts_a_scenario_path_and_a_custom_policy_file(tmp_path):
    policy_file = tmp_path / "mine.py"
    policy_file.write_text(
        "import numpy as np\n"
        "from sim import Engagement, Policy\n\n"
        "class EmailEveryone(Policy):\n"
        "    name = 'email_everyone'\n\n"
        "    def engage(self, model):\n"
        "        touches = np.where(model.active, 2.0, 0.0)\n"
        "        dose = touches * 0.1 * model.traits['digital_affinity']\n"
        "        cost = touches * 0.05\n"
        "        return Engagement(-np.expm1(-dose), touches, cost, {'touch': cost.sum()})\n"
    )
    scenario_path = load_scenario("default").source
    out = tmp_path / "run"
    code = main(["run", scenario_path, "--policy", f"{policy_file}:EmailEveryone",
                 "--customers", "500", "--months", "6", "--out", str(out), "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"] == "email_everyone"
    assert summary["cost_total"] > 0


def test_the_collector_holds_each_steps_record_as_a_plain_data_collector_would():
    model = EngagementModel("default", "hybrid", rng=5, agents=600, months=6)
    records = []
    while model.steps < model.horizon:
        model.step()
        records.append(dict(model.metrics))
    frame = model.datacollector.get_model_vars_dataframe()
    # one column per record key (the stage "churned" and the metric share one), in order
    assert list(frame.columns) == list(records[0])
    pd.testing.assert_frame_equal(frame, pd.DataFrame(records))
