"""The spec's `network.wiring` section: every key and every bad value (file, line, key path, the
message), round trips, the starter spec, and the memory estimate of each design."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import examples
from velora.errors import SpecError
from velora.spec import (
    FIELD,
    NetworkSpec,
    dump_spec,
    estimate_memory,
    neuron_counts,
    parse_spec,
    starter_spec,
)
from velora.wiring import WIRING_TYPES, WiringDesign

HEAD = """\
version: 1
name: designed
seed: 7
network:
  in_features: 4
  n_neurons: 20
  out_features: 2
"""
DESIGNED = (
    HEAD
    + """\
  wiring:
    type: ncp
    inter_neurons: 12
    command_neurons: 8
    sensory_fanout: 4
    inter_fanout: 3
    motor_fanin: 5
"""
)  # the issue's example; the wiring keys are on lines 9 to 14


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "s.yaml")
    assert "\n" not in str(caught.value)
    return caught.value


def test_the_issue_example_parses_to_its_design() -> None:
    spec = parse_spec(DESIGNED)
    assert spec.network.wiring == WiringDesign("ncp", 12, 8, 4, 3, 5)
    assert neuron_counts(spec.network) == {"sensory": 4, "inter": 12, "command": 8, "motor": 2}
    assert parse_spec(dump_spec(spec)) == spec
    assert "wiring:" in dump_spec(spec)


def test_without_a_section_nothing_changes() -> None:
    spec = parse_spec(HEAD)
    assert spec.network.wiring is None
    assert spec.network.design == WiringDesign("ncp", 12, 8)
    assert "wiring" not in dump_spec(spec)
    # An empty section, or `wiring:` with nothing, is the same design with or without a type.
    assert parse_spec(HEAD + "  wiring:\n").network.wiring is None
    assert parse_spec(HEAD + "  wiring: {}\n").network.wiring == WiringDesign("ncp", 12, 8)


@pytest.mark.parametrize(
    ("section", "design"),
    [
        ("{inter_neurons: 15}", WiringDesign("ncp", 15, 5)),
        ("{command_neurons: 3}", WiringDesign("ncp", 17, 3)),
        ("{type: ncp, sensory_fanout: 2}", WiringDesign("ncp", 12, 8, sensory_fanout=2)),
        ("{type: fully_connected}", WiringDesign("fully_connected", 12, 8)),
        ("{type: random, inter_neurons: 10}", WiringDesign("random", 10, 10)),
        ("{type: ncp, motor_fanin: null}", WiringDesign("ncp", 12, 8)),
    ],
)
def test_keys_not_given_follow_the_default_rules(section: str, design: WiringDesign) -> None:
    spec = parse_spec(HEAD + f"  wiring: {section}\n")
    assert spec.network.wiring == design
    assert parse_spec(dump_spec(spec)) == spec


# Each case: the wiring section (indented under network, from line 8), the key path and line
# named, and the message after "key: ".
W = "  wiring:\n"
BAD = {
    "not a mapping": (
        "  wiring: ncp\n",
        "network.wiring",
        8,
        "expected a mapping with keys type, inter_neurons, command_neurons, sensory_fanout, "
        "inter_fanout, motor_fanin, got the text 'ncp'; write 'wiring: {type: ncp}'",
    ),
    "a list": ("  wiring: [ncp]\n", "network.wiring", 8, "got a list"),
    "unknown key": (
        W + "    type: ncp\n    sensory_fanot: 3\n",
        "network.wiring.sensory_fanot",
        10,
        "unknown key 'sensory_fanot'; did you mean 'sensory_fanout'? (allowed keys: type, "
        "inter_neurons, command_neurons, sensory_fanout, inter_fanout, motor_fanin)",
    ),
    "recurrent synapses are not a key": (
        W + "    recurrent_command_synapses: 4\n",
        "network.wiring.recurrent_command_synapses",
        9,
        "unknown key 'recurrent_command_synapses'",
    ),
    "key given twice": (
        W + "    inter_fanout: 3\n    inter_fanout: 2\n",
        "network.wiring.inter_fanout",
        10,
        "key given twice",
    ),
    "unknown type": (
        W + "    type: dense\n",
        "network.wiring.type",
        9,
        "expected one of ncp, fully_connected, random, got the text 'dense'",
    ),
    "misspelt type": (
        W + "    type: fully-connected\n",
        "network.wiring.type",
        9,
        "expected one of ncp, fully_connected, random, got the text 'fully-connected'; did you "
        "mean 'fully_connected'?",
    ),
    "type not text": (
        W + "    type: 3\n",
        "network.wiring.type",
        9,
        "expected one of ncp, fully_connected, random, got 3",
    ),
    "inter_neurons too big": (
        W + "    inter_neurons: 20\n",
        "network.wiring.inter_neurons",
        9,
        "expected an integer from 1 to n_neurons - 1 (19), got 20",
    ),
    "inter_neurons zero": (
        W + "    inter_neurons: 0\n",
        "network.wiring.inter_neurons",
        9,
        "expected an integer from 1 to n_neurons - 1 (19), got 0",
    ),
    "inter_neurons text": (
        W + "    inter_neurons: twelve\n",
        "network.wiring.inter_neurons",
        9,
        "expected an integer from 1 to n_neurons - 1 (19), got the text 'twelve'",
    ),
    "command_neurons float": (
        W + "    command_neurons: 8.0\n",
        "network.wiring.command_neurons",
        9,
        "expected an integer from 1 to n_neurons - 1 (19), got the number 8.0",
    ),
    "command_neurons bool": (
        W + "    command_neurons: true\n",
        "network.wiring.command_neurons",
        9,
        "got the boolean true",
    ),
    "groups do not add up": (
        W + "    inter_neurons: 12\n    command_neurons: 9\n",
        "network.wiring.command_neurons",
        10,
        "inter_neurons (12) + command_neurons (9) = 21, expected n_neurons (20); give one of "
        "them and the other follows",
    ),
    "sensory_fanout above inter": (
        W + "    inter_neurons: 12\n    sensory_fanout: 13\n",
        "network.wiring.sensory_fanout",
        10,
        "expected an integer from 1 to inter_neurons (12), got 13",
    ),
    "sensory_fanout above the derived inter": (
        W + "    command_neurons: 15\n    sensory_fanout: 6\n",
        "network.wiring.sensory_fanout",
        10,
        "expected an integer from 1 to inter_neurons (5), got 6",
    ),
    "sensory_fanout zero": (
        W + "    sensory_fanout: 0\n",
        "network.wiring.sensory_fanout",
        9,
        "expected an integer from 1 to inter_neurons (12), got 0",
    ),
    "inter_fanout above command": (
        W + "    inter_fanout: 9\n",
        "network.wiring.inter_fanout",
        9,
        "expected an integer from 1 to command_neurons (8), got 9",
    ),
    "inter_fanout negative": (
        W + "    inter_fanout: -1\n",
        "network.wiring.inter_fanout",
        9,
        "expected an integer from 1 to command_neurons (8), got -1",
    ),
    "motor_fanin above command": (
        W + "    command_neurons: 4\n    motor_fanin: 5\n",
        "network.wiring.motor_fanin",
        10,
        "expected an integer from 1 to command_neurons (4), got 5",
    ),
    "motor_fanin a list": (
        W + "    motor_fanin: [2]\n",
        "network.wiring.motor_fanin",
        9,
        "expected an integer from 1 to command_neurons (8), got a list",
    ),
    "a fan-out for fully_connected": (
        W + "    type: fully_connected\n    sensory_fanout: 4\n",
        "network.wiring.sensory_fanout",
        10,
        "not a key of type fully_connected (its keys: type, inter_neurons, command_neurons); "
        "fan-outs and fan-ins are for type ncp",
    ),
    "a fan-in for random": (
        W + "    type: random\n    motor_fanin: 2\n",
        "network.wiring.motor_fanin",
        10,
        "not a key of type random",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_wiring_key(case: str) -> None:
    section, key, line, problem = BAD[case]
    exc = error_of(HEAD + section)
    assert (exc.key, exc.line) == (key, line)
    assert str(exc).startswith(f"s.yaml:{line}: {key}: ")
    assert problem in str(exc)


def test_network_error_lists_the_wiring_key() -> None:
    exc = error_of("version: 1\nnetwork: 3\n")
    assert "and optionally sparsity_level, wiring" in str(exc)


def test_every_wiring_key_of_the_schema_is_covered() -> None:
    keys = {f.key for f in FIELD.values() if f.path.startswith("network.wiring.")}
    covered = {BAD[case][1].rsplit(".", 1)[1] for case in BAD}
    assert keys <= covered


def test_starter_documents_the_section_commented_out() -> None:
    text = starter_spec("demo")
    assert "\n  # wiring:" in text
    for key in ("type", "inter_neurons", "command_neurons", "sensory_fanout", "motor_fanin"):
        assert f"\n  #   {key}: " in text
    assert parse_spec(text).network.wiring is None  # commented out: the default rules
    uncommented = text.replace("  # wiring:", "  wiring:").replace("  #   ", "    ")
    assert parse_spec(uncommented).network.wiring == WiringDesign("ncp", 10, 6, 4, 3, 4)


def test_memory_estimate_follows_the_design() -> None:
    base = NetworkSpec(10, 2000, 10)
    # Today's specs: 20 float32 copies of each cell's (n, inputs + n) matrix, plus 52 bytes per
    # possible synapse for the default draws (10 + 6 + 1 neurons; 8,000 command neurons).
    assert estimate_memory(NetworkSpec(4, 16, 1)) == 80 * (10 * 14 + 6 * 16 + 1 * 7) + 52 * 106
    big = 80 * (12000 * 12010 + 8000 * 20000 + 10 * 8010)
    assert estimate_memory(NetworkSpec(10, 20000, 10)) == big + 52 * (
        10 * 12000 + 12000 * 8000 + 8000 * 10
    )
    # The split sizes the cells, and so the estimate.
    lopsided = NetworkSpec(10, 2000, 10, wiring=WiringDesign(inter_neurons=1999))
    cells = 80 * (1999 * (10 + 1999) + 1 * (1999 + 1) + 10 * (1 + 10))
    assert estimate_memory(lopsided) == cells + 52 * (10 * 1999 + 1999 * 1 + 1 * 10)
    # Drawing every synapse needs fewer temporaries than the default draws; exact fan-outs too.
    full = NetworkSpec(10, 2000, 10, wiring=WiringDesign("fully_connected"))
    exact = NetworkSpec(10, 2000, 10, wiring=WiringDesign(sensory_fanout=3))
    assert estimate_memory(full) < estimate_memory(exact) < estimate_memory(base)
    assert estimate_memory(NetworkSpec(1, 10**400, 1, wiring=WiringDesign("random"))) > 0


@settings(max_examples=examples(100), deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [f.key for f in FIELD.values() if f.path.startswith("network.wiring.")] + ["fanout"]
        ),
        st.none() | st.integers(-2, 25) | st.sampled_from([*WIRING_TYPES, "dense", True]),
        max_size=6,
    ),
    st.integers(2, 24),
)
def test_any_wiring_section_loads_or_names_a_key(section, n_neurons) -> None:
    doc = {"version": 1, "network": {"in_features": 2, "n_neurons": n_neurons, "out_features": 1}}
    doc["network"]["wiring"] = section
    try:
        spec = parse_spec(yaml.safe_dump(doc), "p.yaml")
    except SpecError as exc:
        assert exc.key is not None and exc.key.startswith("network.wiring")
        assert exc.line is not None and "\n" not in str(exc)
        return
    assert parse_spec(dump_spec(spec), "p.yaml") == spec
    inter, command = spec.network.design.split()
    assert inter + command == n_neurons and inter >= 1 and command >= 1
