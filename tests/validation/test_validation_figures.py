"""The validation figures (sim/validation/figures.py) are written as PNGs."""

from __future__ import annotations

from sim.validation.diffusion import figure_runs
from sim.validation.figures import bass_figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_bass_figure_is_written(tmp_path):
    path = bass_figure(figure_runs(customers=2000, months=24), tmp_path / "figs" / "bass.png")
    assert path.exists()
    data = path.read_bytes()
    assert data[:8] == PNG
    assert len(data) > 50_000
