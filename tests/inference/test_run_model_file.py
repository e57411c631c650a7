"""run_csv on a model file does what `velora run` does: same bytes, same plot, same checks."""

from pathlib import Path

import pytest

from velora.errors import OutputExistsError, VeloraError
from velora.inference import run_csv
from velora_cli.main import main_exit_code

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "pendulum.yaml"
DATA = ROOT / "examples" / "pendulum.csv"
COLUMNS = ["--sequence-column", "episode", "--time-column", "t"]


def test_library_and_cli_write_the_same_outputs(tmp_path: Path) -> None:
    cli_csv, cli_png = tmp_path / "cli.csv", tmp_path / "cli.png"
    args = ["run", str(SPEC), "-i", str(DATA), "-o", str(cli_csv), "--plot", str(cli_png)]
    assert main_exit_code([*args, *COLUMNS, "--quiet"]) == 0
    lib_csv, lib_png = tmp_path / "lib.csv", tmp_path / "lib.png"
    summary = run_csv(SPEC, DATA, lib_csv, sequence_column="episode", time_column="t", plot=lib_png)
    assert lib_csv.read_bytes() == cli_csv.read_bytes()
    assert lib_png.read_bytes() == cli_png.read_bytes()
    assert summary.plot == lib_png and summary.columns == ["episode", "t", "torque"]
    assert summary.rows == 1000 and summary.sequences == 4


def test_outputs_are_checked_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("keep")
    with pytest.raises(OutputExistsError) as caught:
        run_csv(SPEC, DATA, out)
    assert caught.value.parameter == "force" and out.read_text() == "keep"
    with pytest.raises(VeloraError, match="same file"):
        run_csv(SPEC, DATA, tmp_path / "a.png", plot=tmp_path / "a.png")
    with pytest.raises(VeloraError, match="plot format"):
        run_csv(SPEC, DATA, tmp_path / "b.csv", plot=tmp_path / "b.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_failing_picture_keeps_no_table(tmp_path: Path, monkeypatch) -> None:
    from velora.viz import run as run_plot

    def full(self, path, **options):
        raise VeloraError(f"{path}: cannot write: no space left on device")

    monkeypatch.setattr(run_plot.RunPlot, "save", full)
    with pytest.raises(VeloraError, match="no space left"):
        run_csv(SPEC, DATA, tmp_path / "out.csv", plot=tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []


def test_a_table_that_cannot_be_published_takes_its_new_pictures_along(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"

    def race(result) -> None:  # another process writes the output while this one runs
        if not out.exists():
            out.write_text("first")

    with pytest.raises(OutputExistsError, match="written meanwhile"):
        run_csv(SPEC, DATA, out, plot=tmp_path / "p.png", on_result=race)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert out.read_text() == "first"
