"""``evaluate_csv``: metrics equal those computed with numpy from ``run_csv``'s predictions,
whatever the chunking; per sequence too; every kind of bad input."""

import csv
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import TINY_SPEC, examples
from velora.errors import DataError, VeloraError
from velora.evaluation import evaluate_csv
from velora.files.loading import load_model
from velora.files.tables import write_csv
from velora.inference import run_csv

NAMED_SPEC = TINY_SPEC + "inputs: [a, b, c]\noutputs: [p, q]\n"


def make_data(tmp_path, lengths, *, seed=0, offset=0.0, constant=False, name="data.csv"):
    """A CSV with columns id, t, a, b, c (inputs) and p, q (targets)."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    ids = np.repeat([f"s{i}" for i in range(len(lengths))], lengths)
    t = np.round(np.cumsum(rng.uniform(0.1, 1.5, n)), 3)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    targets = (offset + rng.standard_normal((n, 2)) * 0.5).astype(np.float32)
    if constant:
        targets[:, 1] = 0.25
    path = tmp_path / name
    columns = [ids, t, x[:, 0], x[:, 1], x[:, 2], targets[:, 0], targets[:, 1]]
    write_csv(path, ["id", "t", "a", "b", "c", "p", "q"], columns)
    return path


def read_columns(path, names) -> dict[str, list[str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in names}


def f32(texts: list[str]) -> np.ndarray:
    """Values as the network and the reader see them: float32, then float64 for the sums."""
    return np.array([np.float32(v) for v in texts], dtype=np.float32).astype(np.float64)


def numpy_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
    err = pred - target
    mse = float(np.mean(err**2))
    sst = float(np.sum((target - target.mean()) ** 2))
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(err))),
        "rmse": math.sqrt(mse),
        "r2": 1 - float(np.sum(err**2)) / sst if sst > 0 else None,
    }


def reference(tmp_path, spec, data, **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions from ``run_csv`` (as written to its CSV), targets and sequence ids."""
    preds = tmp_path / "preds.csv"
    run_csv(spec, data, preds, force=True, **options)
    out = read_columns(preds, ["y0", "y1"] if "outputs" not in spec.read_text() else ["p", "q"])
    y = np.stack([f32(v) for v in out.values()], axis=1)
    given = read_columns(data, ["id", "p", "q"])
    target = np.stack([f32(given["p"]), f32(given["q"])], axis=1)
    return y, target, np.array(given["id"])


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert math.isclose(got[key], value, rel_tol=1e-12, abs_tol=1e-15), (key, got, want)


def check(result: dict, y, target, ids, names=("p", "q")) -> None:
    want = {name: numpy_metrics(y[:, j], target[:, j]) for j, name in enumerate(names)}
    assert list(result["outputs"]) == list(names)
    for name in names:
        assert_close(result["outputs"][name], want[name])
    r2s = [want[n]["r2"] for n in names]
    assert_close(
        result["mean"],
        {key: float(np.mean([want[n][key] for n in names])) for key in ("mse", "mae", "rmse")}
        | {"r2": None if None in r2s else float(np.mean(r2s))},
    )
    if "per_sequence" in result:
        order = list(dict.fromkeys(ids.tolist()))
        assert [s["sequence"] for s in result["per_sequence"]] == order
        for seq in result["per_sequence"]:
            rows = ids == seq["sequence"]
            assert seq["rows"] == int(rows.sum())
            for j, name in enumerate(names):
                assert_close(seq["outputs"][name], numpy_metrics(y[rows, j], target[rows, j]))


@pytest.fixture
def named(tmp_path):
    path = tmp_path / "named.yaml"
    path.write_text(NAMED_SPEC)
    return path


@pytest.mark.parametrize("block_bytes", [2 << 20, 700, 64])
def test_metrics_equal_numpy_from_run_predictions(tmp_path, named, block_bytes) -> None:
    data = make_data(tmp_path, [40, 7, 1, 55, 23])
    options = {"sequence_column": "id", "time_column": "t"}
    y, target, ids = reference(tmp_path, named, data, **options)
    result = evaluate_csv(named, data, per_sequence=True, block_bytes=block_bytes, **options)
    document = result.to_dict()
    assert list(document) == ["rows", "sequences", "outputs", "mean", "per_sequence"]
    assert (document["rows"], document["sequences"]) == (126, 5)
    assert (result.inputs, result.targets) == (["a", "b", "c"], ["p", "q"])
    check(document, y, target, ids)
    json.dumps(document, allow_nan=False)  # plain JSON


@settings(max_examples=examples(15))
@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    block_bytes=st.sampled_from([50, 200, 1000, 2 << 20]),
    seed=st.integers(0, 1000),
)
def test_chunking_never_changes_the_metrics(tmp_path_factory, lengths, block_bytes, seed) -> None:
    tmp_path = tmp_path_factory.mktemp("eval")
    spec = tmp_path / "named.yaml"
    spec.write_text(NAMED_SPEC)
    data = make_data(tmp_path, lengths, seed=seed)
    options = {"sequence_column": "id", "time_column": "t"}
    y, target, ids = reference(tmp_path, spec, data, **options)
    result = evaluate_csv(spec, data, per_sequence=True, block_bytes=block_bytes, **options)
    check(result.to_dict(), y, target, ids)


def test_without_a_sequence_column_the_file_is_one_sequence(tmp_path, named) -> None:
    data = make_data(tmp_path, [30, 30])
    y, target, _ = reference(tmp_path, named, data, time_column="t")
    result = evaluate_csv(named, data, time_column="t", per_sequence=True, block_bytes=300)
    document = result.to_dict()
    assert document["sequences"] == 1 and document["rows"] == 60
    assert [s["sequence"] for s in document["per_sequence"]] == [None]
    check(document, y, target, np.array([None] * 60, dtype=object))


def test_targets_far_from_zero_keep_an_accurate_r2(tmp_path, named) -> None:
    """Means and centred sums merged chunk by chunk (Chan) stay accurate with a big offset."""
    data = make_data(tmp_path, [200, 200], offset=3000.0)
    options = {"sequence_column": "id", "time_column": "t"}
    y, target, ids = reference(tmp_path, named, data, **options)
    result = evaluate_csv(named, data, per_sequence=True, block_bytes=100, **options)
    check(result.to_dict(), y, target, ids)


def test_a_constant_target_has_no_r2(tmp_path, named) -> None:
    data = make_data(tmp_path, [20], constant=True)
    result = evaluate_csv(named, data, sequence_column="id").to_dict()
    assert result["outputs"]["q"]["r2"] is None and result["mean"]["r2"] is None
    assert result["outputs"]["p"]["r2"] is not None and result["outputs"]["q"]["mse"] > 0


def test_a_network_object_and_explicit_targets(tmp_path, spec) -> None:
    """A spec without names: inputs are every column but the sequence, time and targets."""
    data = make_data(tmp_path, [25, 25])
    options = {"sequence_column": "id", "time_column": "t"}
    y, target, ids = reference(tmp_path, spec, data, columns=["a", "b", "c"], **options)
    net, _ = load_model(spec)
    result = evaluate_csv(net, data, targets=["p", "q"], **options)
    assert result.inputs == ["a", "b", "c"]
    check(result.to_dict(), y, target, ids)


@pytest.mark.parametrize(
    ("use_named", "options", "error", "words", "parameter"),
    [
        (False, {}, VeloraError, "the spec names no outputs", "targets"),
        (True, {"targets": ["p"]}, VeloraError, "1 target column(s) (p)", "targets"),
        (True, {"targets": ["p", "p"]}, VeloraError, "repeat a name", "targets"),
        (True, {"targets": ["p", "nope"]}, DataError, "no target column 'nope'", None),
        (True, {"targets": ["p", "id"], "sequence_column": "id"}, VeloraError, "both", "targets"),
        (True, {"columns": ["a", "b", "p"]}, DataError, "'p' cannot be both", None),
        (True, {"time_column": "when"}, DataError, "no time column 'when'", None),
    ],
)
def test_bad_input_is_one_line(
    tmp_path, spec, named, use_named, options, error, words, parameter
) -> None:
    data = make_data(tmp_path, [5])
    with pytest.raises(error) as info:
        evaluate_csv(named if use_named else spec, data, **options)
    message = str(info.value)
    assert words in message and "\n" not in message
    assert getattr(info.value, "parameter", None) == parameter


def test_a_bad_cell_names_file_line_and_column(tmp_path, named) -> None:
    data = make_data(tmp_path, [5])
    lines = data.read_text().splitlines()
    cells = lines[3].split(",")
    cells[6] = "oops"
    lines[3] = ",".join(cells)
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        evaluate_csv(named, data, sequence_column="id", time_column="t")
    assert str(info.value).startswith(f"{data}: line 4, column 'q'")
