"""All stages' exits drawn at once are, customer by customer, each stage's own draw."""

import numpy as np

from sim.engine.lifecycle import Edge, choose_exits, edge_rate, in_stages, transitions


def _per_stage(stage, out_edges, drivers, pressure, spm, u):
    """The definition: one competing-risk draw per stage (choose_exits)."""
    new, referred = stage.copy(), []
    for s, edges in enumerate(out_edges):
        rows = np.flatnonzero(stage == s)
        if not edges or rows.size == 0:
            continue
        rates, refs = zip(*(edge_rate(e, rows, drivers, {}, pressure) for e in edges),
                          strict=True)
        choice, share = choose_exits(list(rates), rows.size, spm, u[rows])
        moved = choice >= 0
        new[rows[moved]] = np.array([e.target for e in edges])[choice[moved]]
        for j, e in enumerate(edges):
            if e.referral > 0:
                took = choice[moved] == j
                who = rows[moved][took]
                total = np.broadcast_to(rates[j], rows.shape)[moved][took]
                by_ref = np.broadcast_to(refs[j], rows.shape)[moved][took]
                referred.append(who[share[took] < by_ref / total])
    return new, np.concatenate(referred) if referred else np.empty(0, np.int64)


def test_transitions_draw_each_stage_as_choose_exits_does():
    rng = np.random.default_rng(7)
    out_edges = [
        (Edge(0, 1, 0.2, referral=0.5),),  # a constant rate plus word of mouth
        (Edge(1, 2, 0.1), Edge(1, 0, 0.05)),  # two constant exits
        (Edge(2, 3, 0.3, drivers=(("engagement", -1.5),)),
         Edge(2, 1, 0.1, drivers=(("satisfaction", 2.0),), referral=0.3),
         Edge(2, 0, 0.02)),  # per-customer rates, three exits
        (),  # no way out
    ]
    for spm in (1.0, 52 / 12):
        n = 4000
        stage = rng.integers(0, 4, n).astype(np.int8)
        drivers = {"engagement": rng.random(n) - 0.5, "satisfaction": rng.random(n) - 0.5}
        pressure, u = rng.random(n), rng.random(n)
        want = _per_stage(stage, out_edges, drivers, pressure, spm, u)
        for block in (n, 997, 64, 1):  # drawn a block of customers at a time: the same
            got = transitions(stage, out_edges, drivers, {}, pressure, spm, u, block=block)
            assert np.array_equal(got[0], want[0])
            assert np.array_equal(got[1], want[1])
        assert (got[0] != stage).sum() > 100 and got[1].size > 10  # draws that matter
        assert (got[0][stage == 3] == 3).all()


def test_a_driver_given_as_a_function_of_the_rows_draws_the_same_moves():
    rng = np.random.default_rng(11)
    out_edges = [(Edge(0, 1, 0.3, drivers=(("engagement", -1.5), ("touch", 2.0))),
                  Edge(0, 2, 0.1, drivers=(("engagement", 1.0),))), (), ()]
    n = 3000
    stage = rng.integers(0, 3, n).astype(np.int8)
    engagement, touch, u = rng.random(n), rng.random(n), rng.random(n)
    asked = []

    def centred(rows):
        asked.append(rows.size)
        return engagement[rows] - 0.5

    full = transitions(stage, out_edges, {"engagement": engagement - 0.5, "touch": touch},
                       {}, None, 1.0, u)
    lazy = transitions(stage, out_edges, {"engagement": centred, "touch": touch},
                       {}, None, 1.0, u)
    assert np.array_equal(full[0], lazy[0]) and (full[0] != stage).sum() > 100
    assert asked == [np.count_nonzero(stage == 0)]  # once, for the stage's rows alone


def test_in_stages_is_the_table_lookup_for_every_table_of_five_stages():
    stage = np.random.default_rng(2).integers(0, 5, 500).astype(np.int8)
    for bits in range(32):
        table = np.array([(bits >> s) & 1 for s in range(5)], dtype=bool)
        assert np.array_equal(in_stages(table, stage), table[stage]), table
