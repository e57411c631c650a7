"""`velora eval`: its JSON equals numpy on `velora run`'s predictions; tables; bad input."""

import json
import math

import numpy as np
import pytest

from tests.evaluation.test_evaluate_csv import (
    NAMED_SPEC,
    check,
    f32,
    make_data,
    read_columns,
)
from velora_cli.main import main_exit_code


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main_exit_code([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def named(tmp_path):
    path = tmp_path / "named.yaml"
    path.write_text(NAMED_SPEC)
    return path


def test_json_equals_numpy_on_the_predictions_of_velora_run(tmp_path, named, capsys) -> None:
    data = make_data(tmp_path, [30, 12, 41])
    seq = ["--sequence-column", "id", "--time-column", "t", "--dt", "0.5"]
    preds = tmp_path / "preds.csv"
    assert cli(capsys, "run", named, "-i", data, "-o", preds, "--quiet", *seq)[0] == 0
    code, out, err = cli(capsys, "eval", named, "-i", data, *seq, "--json", "--per-sequence")
    assert code == 0, err
    result = json.loads(out)
    assert list(result) == ["rows", "sequences", "outputs", "mean", "per_sequence"]
    assert (result["rows"], result["sequences"]) == (83, 3)
    columns = read_columns(preds, ["id", "p", "q"])
    y = np.stack([f32(columns["p"]), f32(columns["q"])], axis=1)
    given = read_columns(data, ["p", "q"])
    target = np.stack([f32(given["p"]), f32(given["q"])], axis=1)
    check(result, y, target, np.array(columns["id"]))
    # without --per-sequence: exactly the documented keys
    code, out, _ = cli(capsys, "eval", named, "-i", data, *seq, "--json")
    plain = json.loads(out)
    assert list(plain) == ["rows", "sequences", "outputs", "mean"]
    assert list(plain["outputs"]["p"]) == ["mse", "mae", "rmse", "r2"]
    assert plain["outputs"] == result["outputs"] and plain["mean"] == result["mean"]


def test_tables_per_output_and_per_sequence(tmp_path, named, capsys) -> None:
    data = make_data(tmp_path, [10, 10])
    code, out, err = cli(
        capsys, "eval", named, "-i", data, "--sequence-column", "id", "--per-sequence"
    )
    assert code == 0, err
    result = json.loads(
        cli(capsys, "eval", named, "-i", data, "--sequence-column", "id", "--json")[1]
    )
    assert f"{named} on {data}: 20 rows, 2 sequences; inputs a, b, c → targets p, q" in out
    lines = out.splitlines()
    row = next(line.split() for line in lines if line.strip().startswith("p "))
    want = result["outputs"]["p"]
    assert [float(v) for v in row[1:]] == pytest.approx(
        [want[k] for k in ("mse", "mae", "rmse", "r2")], rel=1e-3
    )
    assert any(line.strip().startswith("mean ") for line in lines)
    assert "Errors per sequence" in out
    assert [line.split()[0] for line in lines if line.strip().startswith(("s0 ", "s1 "))] == [
        "s0",
        "s1",
    ]
    assert "scored 20 rows in" in err


def test_a_constant_target_shows_a_dash_and_null(tmp_path, named, capsys) -> None:
    data = make_data(tmp_path, [15], constant=True)
    out = cli(capsys, "eval", named, "-i", data, "--sequence-column", "id")[1]
    q = next(line.split() for line in out.splitlines() if line.strip().startswith("q "))
    assert q[-1] == "-"
    document = json.loads(cli(capsys, "eval", named, "-i", data, "--json")[1])
    assert document["outputs"]["q"]["r2"] is None and math.isfinite(document["mean"]["mse"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--targets", "p,nope"], "no target column 'nope' in the header"),
        (
            ["--targets", "p"],
            "1 target column(s) (p) but the network has 2 output(s) (see --targets)",
        ),
        (["--targets", "p,"], "--targets"),
        (["--columns", "a,b"], "(choose them with --columns)"),
        (["--time-column", "id"], "line 2, column 'id': 's0' is not a number"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, named, capsys, args, words) -> None:
    data = make_data(tmp_path, [5])
    code, out, err = cli(capsys, "eval", named, "-i", data, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err
    assert "Traceback" not in err


def test_a_spec_without_outputs_asks_for_targets(tmp_path, spec, capsys) -> None:
    data = make_data(tmp_path, [5])
    code, _, err = cli(capsys, "eval", spec, "-i", data)
    assert code == 2
    assert err.strip() == (
        f"error: {spec}: the spec names no outputs; name the target columns (see --targets)"
    )
