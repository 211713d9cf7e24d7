"""The analytic and calibrate commands: outputs and exit codes."""

import json

from sim.cli import main


def test_analytic_prints_tables_and_json(capsys):
    assert main(["analytic", "markov_saas", "--policy", "high_touch", "--months", "12"]) == 0
    out = capsys.readouterr().out
    assert "exact Markov-chain expectations" in out and "enterprise" in out
    assert main(["analytic", "constant_churn", "--policy", "none", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["policy"] == "none"


def test_analytic_refuses_what_the_chain_cannot_express(capsys):
    assert main(["analytic", "default", "--policy", "hybrid"]) == 2
    err = capsys.readouterr().err
    assert "cannot express" in err and "lifecycle.edges[0].referral" in err
    assert "Traceback" not in err


def test_calibrate_writes_fit_and_fragment(tmp_path, capsys):
    table = tmp_path / "cohort.csv"
    table.write_text("period,alive\n0,1000\n1,631\n2,468\n3,382\n4,326\n5,289\n6,262\n7,241\n")
    out = tmp_path / "fit" / "cohort.json"
    assert main(["calibrate", str(table), "--horizon", "12", "--out", str(out)]) == 0
    fit = json.loads(out.read_text())["segments"]["all"]
    assert abs(fit["alpha"] - 0.704) < 0.01 and abs(fit["beta"] - 1.182) < 0.01
    assert len(fit["survival"]) == 13
    assert out.with_suffix(".toml").is_file()
    assert "alpha" in capsys.readouterr().out


def test_calibrate_bad_table_exits_2(tmp_path, capsys):
    table = tmp_path / "bad.csv"
    table.write_text("period,alive\n0,100\n1,120\n2,50\n")
    assert main(["calibrate", str(table), "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "alive increases" in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_zero_jobs_is_refused_before_anything_runs(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--jobs", "0", "--out", str(tmp_path / "c")])
    assert exit_info.value.code == 2
    assert "--jobs" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


POLICY_FILE = '''
import numpy as np

from sim import Engagement, Policy


class EmailEveryone(Policy):
    name = "email_everyone"

    def engage(self, view):
        per_month = np.where(view.active, 2.0, 0.0)
        return Engagement.from_touches(view, per_month, effect=0.1, cost_per_touch=0.05)
'''


def test_compare_and_sweep_accept_a_policy_class_in_a_python_file(tmp_path, capsys):
    (tmp_path / "mine.py").write_text(POLICY_FILE)
    mine = f"{tmp_path}/mine.py:EmailEveryone"
    args = ["--replications", "2", "--customers", "80", "--months", "3", "--quiet"]
    assert main(["compare", "--policies", f"no_touch,{mine}", *args, "--jobs", "2",
                 "--out", str(tmp_path / "c")]) == 0
    runs = (tmp_path / "c" / "runs.csv").read_text()
    assert runs.count(mine) == 2 and "maximises" in (tmp_path / "c" / "report.md").read_text()
    (tmp_path / "e.toml").write_text(f'policies = ["no_touch", "{mine}"]\nreplications = 1\n'
                                     "customers = 60\nmonths = 2\n")
    assert main(["sweep", str(tmp_path / "e.toml"), "--quiet", "--jobs", "1",
                 "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "runs.csv").read_text().count(mine) == 1


def test_compare_with_a_missing_policy_file_exits_2(tmp_path, capsys):
    code = main(["compare", "--policies", f"no_touch,{tmp_path}/nope.py:X", "--quiet",
                 "--out", str(tmp_path / "c")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.py: no such policy file" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()
