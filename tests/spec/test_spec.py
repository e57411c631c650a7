"""YAML specs: the schema, every error case (file, key, line), building, and property tests."""

import string
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import examples
from velora.errors import SpecError
from velora.models import build_network
from velora.spec import (
    DEFAULT_SEED,
    FIELDS,
    NetworkSpec,
    Spec,
    check_memory,
    dump_spec,
    estimate_memory,
    load_spec,
    parse_bytes,
    parse_spec,
    starter_spec,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pendulum.yaml"

VALID = """\
version: 1
name: demo
seed: 3
network:
  in_features: 2
  n_neurons: 8
  out_features: 1
  sparsity_level: 0.4
inputs: [a, b]
outputs: [c]
"""


def error_of(text: str, source: str = "s.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith(source), "errors name the file first"
    return info.value


def test_example_loads() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.network == NetworkSpec(4, 16, 1, 0.5)
    assert (spec.name, spec.seed, spec.version) == ("pendulum", 7, 1)
    assert spec.inputs == ("x", "y", "theta", "omega") and spec.outputs == ("torque",)
    assert spec.title == "pendulum"


def test_dump_round_trips() -> None:
    spec = parse_spec(VALID)
    assert parse_spec(dump_spec(spec)) == spec
    assert parse_spec(dump_spec(load_spec(EXAMPLE)), str(EXAMPLE)) == load_spec(EXAMPLE)


def test_optional_keys_default() -> None:
    spec = parse_spec("version: 1\nnetwork: {in_features: 1, n_neurons: 2, out_features: 1}\n")
    assert spec.seed == DEFAULT_SEED and spec.network.sparsity_level == 0.5
    assert spec.name is None and spec.inputs is None and spec.outputs is None
    assert spec.input_names() == ["x0"] and spec.output_names() == ["y0"]
    # An explicit null counts as absent.
    spec = parse_spec(
        "version: 1\nname:\nseed:\ninputs:\n"
        "network: {in_features: 1, n_neurons: 2, out_features: 1, sparsity_level: null}\n"
    )
    assert spec.seed == DEFAULT_SEED and spec.name is None and spec.network.sparsity_level == 0.5


def test_starter_spec_is_valid_and_documents_every_key() -> None:
    text = starter_spec("my-net")
    spec = parse_spec(text)
    assert spec.name == "my-net"
    for field in FIELDS:
        assert f"{field.key}:" in text
        if field.kind != "mapping":
            assert field.help in text
    assert parse_spec(starter_spec("bad/name")).name == "network"


# Each case: YAML text, the key path named, the line named (None: none), words in the message.
NET = "version: 1\nnetwork:\n  in_features: 2\n  out_features: 1\n"
CASES = {
    "invalid yaml": ("version: 1\nnetwork: [1, 2\n", None, 3, "not valid YAML"),
    "tab indentation": ("version: 1\nnetwork:\n\tin_features: 2\n", None, 3, "not valid YAML"),
    "bad date": ("version: 1\nwhen: 2024-13-45\n", None, None, "not valid YAML"),
    "two documents": ("version: 1\n---\nversion: 1\n", None, 2, "not valid YAML"),
    "empty": ("", None, None, "empty spec"),
    "comment only": ("# nothing\n", None, None, "empty spec"),
    "list": ("- 1\n- 2\n", None, 1, "expected a mapping"),
    "scalar": ("hello\n", None, 1, "expected a mapping"),
    "missing version": (
        "network: {in_features: 1, n_neurons: 2, out_features: 1}\n",
        "version",
        None,
        "missing",
    ),
    "missing network": ("version: 1\n", "network", None, "missing"),
    "missing n_neurons": (NET, "network.n_neurons", 2, "missing; expected an integer >= 2"),
    "unknown top key": (
        VALID.replace("seed: 3", "sede: 3"),
        "sede",
        3,
        "did you mean 'seed'?",
    ),
    "unknown network key": (
        VALID.replace("n_neurons", "n_nerons"),
        "network.n_nerons",
        6,
        "did you mean 'n_neurons'?",
    ),
    "unknown key without a close match": (
        VALID + "colour: red\n",
        "colour",
        11,
        "unknown key 'colour' (allowed keys",
    ),
    "duplicate key": (VALID + "seed: 4\n", "seed", 11, "given twice"),
    "network not a mapping": (
        "version: 1\nnetwork: 16\n",
        "network",
        2,
        "expected a mapping",
    ),
    "n_neurons text": (
        VALID.replace("n_neurons: 8", "n_neurons: ten"),
        "network.n_neurons",
        6,
        "expected an integer >= 2, got the text 'ten'",
    ),
    "n_neurons float": (
        VALID.replace("n_neurons: 8", "n_neurons: 4.5"),
        "network.n_neurons",
        6,
        "got the number 4.5",
    ),
    "n_neurons bool": (
        VALID.replace("n_neurons: 8", "n_neurons: true"),
        "network.n_neurons",
        6,
        "got the boolean true",
    ),
    "n_neurons list": (
        VALID.replace("n_neurons: 8", "n_neurons: [8]"),
        "network.n_neurons",
        6,
        "got a list",
    ),
    "n_neurons null": (
        VALID.replace("n_neurons: 8", "n_neurons:"),
        "network.n_neurons",
        6,
        "got nothing (null)",
    ),
    "n_neurons too small": (
        VALID.replace("n_neurons: 8", "n_neurons: 1"),
        "network.n_neurons",
        6,
        "expected an integer >= 2, got 1",
    ),
    "in_features zero": (
        VALID.replace("in_features: 2", "in_features: 0"),
        "network.in_features",
        5,
        "expected an integer >= 1, got 0",
    ),
    "out_features negative": (
        VALID.replace("out_features: 1", "out_features: -3"),
        "network.out_features",
        7,
        "got -3",
    ),
    "sparsity too high": (
        VALID.replace("sparsity_level: 0.4", "sparsity_level: 0.95"),
        "network.sparsity_level",
        8,
        "expected a number from 0.1 to 0.9, got the number 0.95",
    ),
    "sparsity nan": (
        VALID.replace("sparsity_level: 0.4", "sparsity_level: .nan"),
        "network.sparsity_level",
        8,
        "from 0.1 to 0.9",
    ),
    "sparsity text": (
        VALID.replace("sparsity_level: 0.4", "sparsity_level: '0.4'"),
        "network.sparsity_level",
        8,
        "got the text '0.4'",
    ),
    "seed negative": (VALID.replace("seed: 3", "seed: -1"), "seed", 3, "from 0 to 4294967295"),
    "seed too big": (VALID.replace("seed: 3", "seed: 4294967296"), "seed", 3, "from 0"),
    "seed float": (VALID.replace("seed: 3", "seed: 3.5"), "seed", 3, "got the number 3.5"),
    "name number": (VALID.replace("name: demo", "name: 42"), "name", 2, "got 42"),
    "name with slash": (VALID.replace("name: demo", "name: a/b"), "name", 2, "got the text"),
    "version unsupported": (VALID.replace("version: 1", "version: 2"), "version", 1, "unsupported"),
    "version text": (VALID.replace("version: 1", "version: '1'"), "version", 1, "the integer 1"),
    "inputs too short": (
        VALID.replace("inputs: [a, b]", "inputs: [a]"),
        "inputs",
        9,
        "expected 2 names (network.in_features = 2), got 1",
    ),
    "outputs too long": (
        VALID.replace("outputs: [c]", "outputs: [c, d]"),
        "outputs",
        10,
        "expected 1 name (network.out_features = 1), got 2",
    ),
    "inputs duplicate": (
        VALID.replace("inputs: [a, b]", "inputs:\n  - a\n  - a"),
        "inputs[1]",
        11,
        "duplicate name 'a' (also inputs[0])",
    ),
    "inputs blank": (
        VALID.replace("inputs: [a, b]", "inputs: [a, '  ']"),
        "inputs[1]",
        9,
        "blank name",
    ),
    "inputs not text": (
        VALID.replace("inputs: [a, b]", "inputs: [a, 2]"),
        "inputs[1]",
        9,
        "expected a name (text), got 2",
    ),
    "inputs padded": (
        VALID.replace("inputs: [a, b]", "inputs: [a, ' b']"),
        "inputs[1]",
        9,
        "leading or trailing spaces",
    ),
    "inputs not a list": (
        VALID.replace("inputs: [a, b]", "inputs: a, b"),
        "inputs",
        9,
        "expected a list of 2 names",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_errors(case: str) -> None:
    text, key, line, words = CASES[case]
    exc = error_of(text)
    assert exc.key == key
    assert exc.line == line
    assert words in str(exc)
    where = "s.yaml" if line is None else f"s.yaml:{line}"
    assert str(exc).startswith(f"{where}: {key + ': ' if key else ''}")


def test_version_is_checked_before_the_other_keys() -> None:
    exc = error_of("version: 2\nlayers: []\n")
    assert exc.key == "version" and "unsupported" in str(exc)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.yaml: no such file"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"version: 1\n\xff\xfe\n")
    with pytest.raises(SpecError, match=r"b\.yaml: not UTF-8 text \(byte 11\)"):
        load_spec(binary)
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("n_neurons: 8", "n_neurons: ten"), encoding="utf-8")
    with pytest.raises(SpecError, match=rf"^{bad}:6: network.n_neurons: "):
        load_spec(bad)


def test_unreadable_file(tmp_path: Path) -> None:
    locked = tmp_path / "locked.yaml"
    locked.write_text(VALID, encoding="utf-8")
    locked.chmod(0)
    try:
        if locked.stat().st_mode and _can_read(locked):
            pytest.skip("running with privileges that read any file")
        with pytest.raises(SpecError, match="cannot read spec"):
            load_spec(locked)
    finally:
        locked.chmod(0o600)


def _can_read(path: Path) -> bool:
    try:
        path.read_bytes()
    except OSError:
        return False
    return True


def test_memory_estimate_covers_the_parameters() -> None:
    spec = parse_spec(VALID)
    net = build_network(spec)
    param_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    assert estimate_memory(spec.network) >= 2 * param_bytes
    big = NetworkSpec(10, 20_000, 10)
    assert estimate_memory(big) > 4 * 2**30  # refused by default
    assert estimate_memory(NetworkSpec(1, 10**400, 1)) > 0  # absurd sizes never overflow


def test_too_large_is_refused_before_allocating() -> None:
    spec = parse_spec("version: 1\nnetwork: {in_features: 10, n_neurons: 1000000, out_features: 1}")
    with pytest.raises(SpecError, match=r"too large: .*limit of 4\.0 GiB$") as caught:
        build_network(spec)
    assert caught.value.parameter == "max_memory"  # the CLI names --max-memory
    assert "--" not in str(caught.value)
    with pytest.raises(SpecError, match=r"limit of 1\.0 KiB"):
        build_network(parse_spec(VALID), max_memory=1024)
    assert build_network(parse_spec(VALID), max_memory=None).n_neurons == 8
    assert check_memory(parse_spec(VALID), 10**9) == estimate_memory(parse_spec(VALID).network)


def test_parse_bytes() -> None:
    assert parse_bytes("4GiB") == 4 * 2**30
    assert parse_bytes("512 MB") == 512 * 10**6
    assert parse_bytes("1.5k") == 1500
    assert parse_bytes("123") == 123
    for bad in ("", "lots", "4 GiBs", "-1GB"):
        with pytest.raises(ValueError, match="expected a size such as 4GiB"):
            parse_bytes(bad)


def test_same_spec_same_network() -> None:
    a, b = build_network(parse_spec(VALID)), build_network(parse_spec(VALID))
    for name in ("inter", "command", "motor"):
        assert torch.equal(getattr(a.wiring.masks, name), getattr(b.wiring.masks, name))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    other = build_network(parse_spec(VALID.replace("seed: 3", "seed: 4")))
    assert not torch.equal(a.layers["inter"].g_head.weight, other.layers["inter"].g_head.weight)


def test_spec_without_seed_builds_deterministically() -> None:
    text = "version: 1\nnetwork: {in_features: 3, n_neurons: 12, out_features: 2}\n"
    torch.manual_seed(1)
    a = build_network(parse_spec(text))
    torch.manual_seed(2)
    b = build_network(parse_spec(text))
    assert torch.equal(a.wiring.masks.command, b.wiring.masks.command)
    assert Spec(NetworkSpec(3, 12, 2), seed=None).effective_seed == DEFAULT_SEED


# ---- property tests: any document either loads or raises SpecError, never anything else ----

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "version",
                        "network",
                        "in_features",
                        "n_neurons",
                        "out_features",
                        "sparsity_level",
                        "seed",
                        "name",
                        "inputs",
                        "outputs",
                    ]
                ),
                st.text(max_size=8),
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=20,
)


def _loads_or_spec_error(text: str) -> None:
    try:
        spec = parse_spec(text, "p.yaml")
    except SpecError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(spec, Spec)
    assert parse_spec(dump_spec(spec)).network == spec.network


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents(doc) -> None:
    _loads_or_spec_error(yaml.safe_dump(doc))


@settings(max_examples=examples(150), deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["version", "name", "seed", "inputs", "outputs", "network"]), scalars
    ),
    st.dictionaries(
        st.sampled_from(["in_features", "n_neurons", "out_features", "sparsity_level", "x"]),
        st.one_of(scalars, st.integers(0, 40)),
    ),
)
def test_near_valid_documents(top, net) -> None:
    _loads_or_spec_error(yaml.safe_dump({"version": 1, **top, "network": net}))


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace"]),
            st.integers(0, 10_000),
            st.sampled_from([*string.printable, "\x00", "é", "\t", "&", "*", "!!", "{"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_documents(edits) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for op, pos, char in edits:
        pos %= len(text) + 1
        if op == "insert":
            text = text[:pos] + char + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1 :]
        else:
            text = text[:pos] + char + text[pos + 1 :]
    _loads_or_spec_error(text)


@settings(max_examples=examples(200), deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text) -> None:
    _loads_or_spec_error(text)


def test_hostile_documents() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    _loads_or_spec_error(bomb)
    _loads_or_spec_error("[" * 5000 + "]" * 5000)
    _loads_or_spec_error("!!python/object:os.system {}")
    _loads_or_spec_error("version: !!binary '@@@'")
    _loads_or_spec_error("? [1, 2]\n: 3\n")
