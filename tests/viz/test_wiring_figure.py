"""The wiring figure: what it draws is checked against the masks, computed independently."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

import velora.viz.wiring
from tests.reference import synapse_table
from velora.errors import OutputExistsError, VeloraError
from velora.models import LiquidNCPNetwork
from velora.viz.stats import synapse_strengths
from velora.viz.wiring import (
    EXCITATORY,
    INHIBITORY,
    MAX_LABELS,
    NO_SYNAPSE,
    SHARE_COLOURS,
    check_plottable,
    plot_format,
    save_wiring_plot,
    wiring_figure,
)
from velora.wiring import NeuronCounts, Wiring

PAIRS = {
    "sensory->inter": ("sensory", "inter", "inter"),
    "inter->command": ("inter", "command", "command"),
    "command->motor": ("command", "motor", "motor"),
}


def _edges_by_layer(fig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Segments and colours of each layer's edge collection, in drawing order."""
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for ax in fig.axes:
        for collection in ax.collections:
            gid = collection.get_gid() or ""
            if gid.startswith("edges:"):
                segments = np.array(collection.get_segments()).reshape(-1, 2, 2)
                found[gid.split(":")[1]] = (segments, collection.get_colors())
    return found


def _polarity(colour) -> int:
    """+1 for the excitatory blue, -1 for the inhibitory red (opacity aside)."""
    rgb = tuple(colour[:3])
    if np.allclose(rgb, to_rgb(EXCITATORY)):
        return 1
    assert np.allclose(rgb, to_rgb(INHIBITORY)), colour
    return -1


@pytest.mark.parametrize(("n_in", "n", "n_out", "seed"), [(2, 5, 1, 1), (4, 16, 1, 7)])
def test_one_edge_per_synapse_with_its_polarity(n_in, n, n_out, seed) -> None:
    wiring = Wiring(n_in, n, n_out, seed=seed)
    fig, info = wiring_figure(wiring)
    assert info.view == "synapses"
    drawn = _edges_by_layer(fig)
    total = 0
    for layer, (source, target, attr) in PAIRS.items():
        mask = getattr(wiring.masks, attr).numpy()
        expected = {
            (int(i), int(j), int(mask[i, j])) for i, j in zip(*np.nonzero(mask), strict=True)
        }
        segments, colours = drawn[layer]
        assert len(segments) == len(expected)
        # Map each segment's ends back to neuron indices through the drawn positions.
        src_pos, tgt_pos = info.positions[source], info.positions[target]
        got = set()
        for ((x0, y0), (x1, y1)), colour in zip(segments, colours, strict=True):
            i = int(np.argmin(np.hypot(src_pos[:, 0] - x0, src_pos[:, 1] - y0)))
            j = int(np.argmin(np.hypot(tgt_pos[:, 0] - x1, tgt_pos[:, 1] - y1)))
            assert np.allclose(src_pos[i], (x0, y0)) and np.allclose(tgt_pos[j], (x1, y1))
            got.add((i, j, _polarity(colour)))
        assert got == expected
        assert {tuple(e) for e in info.order[layer]} == {(i, j) for i, j, _ in expected}
        assert info.edges[layer] == int(np.count_nonzero(mask))
        assert np.array_equal(info.heatmaps[layer], np.sign(mask))
        total += int(np.count_nonzero(mask))
    assert info.total_edges == total == info.excitatory + info.inhibitory
    counts = wiring.counts
    assert info.nodes == {
        "sensory": counts.sensory,
        "inter": counts.inter,
        "command": counts.command,
        "motor": counts.motor,
    }


def test_neither_polarity_is_drawn_over_the_other() -> None:
    """Edges of both polarities are interleaved: the last quarter drawn (on top) holds each
    polarity in about its overall share, not all of one kind."""
    wiring = Wiring(4, 50, 1, seed=7)
    fig, _ = wiring_figure(wiring)
    _, colours = _edges_by_layer(fig)["inter->command"]
    signs = np.array([_polarity(c) for c in colours])
    share = float((signs > 0).mean())
    top = signs[-len(signs) // 4 :]
    assert abs(float((top > 0).mean()) - share) < 0.15
    assert 0.3 < share < 0.7


def test_inter_and_command_nodes_carry_their_heat_map_indices() -> None:
    wiring = Wiring(4, 16, 1, seed=7)
    fig, info = wiring_figure(wiring)
    counts = wiring.counts
    assert info.labels["inter"] == [str(i) for i in range(counts.inter)]
    assert info.labels["command"] == [str(i) for i in range(counts.command)]
    circuit = fig.axes[0]
    for group in ("inter", "command"):
        for i, (x, y) in enumerate(info.positions[group]):
            label = [t for t in circuit.texts if t.get_text() == str(i) and t.xy == (x, y)]
            assert len(label) == 1, (group, i)
    # The heat map of inter -> command numbers its rows and columns the same way.
    heat = next(ax for ax in fig.axes if "inter → command" in ax.get_title())
    assert list(heat.get_yticks()) == list(range(counts.inter))
    # Past MAX_LABELS, no index labels.
    _, big = wiring_figure(Wiring(2, 80, 1, seed=0), view="synapses")  # 48 inter, 32 command
    assert big.labels["inter"] == [] and len(big.labels["command"]) == 32


def _bundle_counts(mask: np.ndarray, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """Synapses and excitatory synapses between blocks, by plain loops over the mask."""
    live, exc = np.zeros((len(rows), len(cols)), int), np.zeros((len(rows), len(cols)), int)
    for a, (r0, r1) in enumerate(rows):
        for b, (c0, c1) in enumerate(cols):
            for i in range(r0, r1):
                for j in range(c0, c1):
                    live[a, b] += mask[i, j] != 0
                    exc[a, b] += mask[i, j] > 0
    return live, exc


def test_a_thousand_neurons_are_drawn_as_bundles() -> None:
    """Past a readable size the circuit is blocks and ribbons: every synapse in exactly one
    bundle, each with its count and excitatory share, widths proportional to the counts, colours
    from the share; the heat maps stay."""
    wiring = Wiring(4, 1000, 1, seed=7)
    fig, info = wiring_figure(wiring, input_names=["x", "y", "theta", "omega"])
    assert info.view == "bundles"
    assert info.blocks["inter"] == [(lo, lo + 50) for lo in range(0, 600, 50)]
    assert info.blocks["command"] == [(lo, lo + 50) for lo in range(0, 400, 50)]
    assert info.blocks["sensory"] == [(i, i + 1) for i in range(4)]
    assert info.labels["sensory"] == ["x", "y", "theta", "omega"]
    assert info.labels["inter"][:2] == ["0–49", "50–99"]
    circuit = fig.axes[0]
    assert not [c for c in circuit.collections if (c.get_gid() or "").startswith("edges:")]
    ribbons = {
        c.get_gid().split(":")[1]: c
        for c in circuit.collections
        if (c.get_gid() or "").startswith("bundles:")
    }
    layer_texts = [t.get_text() for t in circuit.texts if "synapses" in t.get_text()]
    for layer, (source, target, attr) in PAIRS.items():
        mask = getattr(wiring.masks, attr).numpy()
        live, exc = _bundle_counts(mask, info.blocks[source], info.blocks[target])
        bundles = info.bundles[layer]
        assert len(bundles) == int((live > 0).sum()) == len(ribbons[layer].get_paths())
        for bundle in bundles:
            a = info.blocks[source].index(bundle.source)
            b = info.blocks[target].index(bundle.target)
            assert (bundle.synapses, bundle.excitatory) == (live[a, b], exc[a, b])
        assert sum(b.synapses for b in bundles) == np.count_nonzero(mask) == info.edges[layer]
        # Ribbon thickness at the source end, per synapse, is one constant per layer.
        thickness = [p.vertices[0, 1] - p.vertices[7, 1] for p in ribbons[layer].get_paths()]
        per_synapse = np.array(thickness) / [b.synapses for b in bundles]
        assert np.allclose(per_synapse, per_synapse[0])
        colours = ribbons[layer].get_facecolors()[:, :3]
        shares = [b.excitatory / b.synapses for b in bundles]
        assert np.allclose(colours, [SHARE_COLOURS(s)[:3] for s in shares])
        n, e = int(np.count_nonzero(mask)), int((mask > 0).sum())
        assert f"{n:,} synapses\n{e / n:.1%} excitatory" in layer_texts
        assert np.array_equal(info.heatmaps[layer], np.sign(mask))
    assert info.excitatory + info.inhibitory == info.total_edges
    assert len([ax for ax in fig.axes if ax.images]) == 3


def test_auto_view_follows_readability() -> None:
    assert wiring_figure(Wiring(4, 50, 1, seed=7))[1].view == "synapses"
    assert wiring_figure(Wiring(4, 100, 1, seed=7))[1].view == "bundles"
    assert wiring_figure(Wiring(4, 16, 1, seed=7), view="bundles")[1].view == "bundles"
    _, info = wiring_figure(Wiring(4, 16, 1, seed=7), view="bundles")
    assert info.blocks["inter"] == [(i, i + 1) for i in range(10)]  # small: one per neuron
    with pytest.raises(ValueError, match="view must be one of"):
        wiring_figure(Wiring(4, 16, 1, seed=7), view="edges")


def _strengths(net) -> dict[str, np.ndarray]:
    """Each layer's strengths laid out like its mask, from the network's own tensors (the
    independent table of tests/reference.py)."""
    tensors = {name: t.detach().numpy() for name, t in net.state_dict().items()}
    tensors |= {f"wiring.{k}": m.numpy() for k, m in net.wiring.masks.items()}
    out = {
        name: np.zeros(getattr(net.wiring.masks, attr).shape)
        for name, (_, _, attr) in PAIRS.items()
    }
    for row in synapse_table(tensors):
        out[row["layer"]][row["source"], row["target"]] = row["strength"]
    return out


def test_learned_strength_sets_width_and_opacity(trained) -> None:
    fig, info = wiring_figure(trained.wiring, strengths=synapse_strengths(trained))
    assert info.weighted and info.view == "synapses"
    expected = _strengths(trained)
    for layer in PAIRS:
        order = info.order[layer]
        strength = expected[layer][order[:, 0], order[:, 1]]
        assert np.all(np.diff(strength) >= -1e-12)  # weakest first, the strongest on top
        ratio = strength / strength.max()
        widths, alphas = info.widths[layer], info.alphas[layer]
        assert np.allclose(widths / widths[-1], (0.2 + 1.8 * ratio) / 2.0)
        assert np.allclose(alphas, 0.12 + 0.83 * ratio)
        collection = next(c for c in fig.axes[0].collections if c.get_gid() == f"edges:{layer}")
        assert np.allclose(collection.get_linewidths(), widths)
        assert np.allclose(collection.get_colors()[:, 3], alphas)
    legend = fig.axes[0].get_legend()
    assert "learned strength" in legend.get_title().get_text()
    # The heat maps fade each synapse from its polarity's colour (the layer's strongest) to the
    # no-synapse grey: no synapse is grey, the strongest is the full colour.
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    for image, (layer, (_, _, attr)) in zip(images, PAIRS.items(), strict=True):
        mask = getattr(trained.wiring.masks, attr).numpy()
        image = np.asarray(image)
        assert np.allclose(image[mask == 0], to_rgb(NO_SYNAPSE))
        i, j = np.unravel_index(np.argmax(expected[layer]), mask.shape)
        assert np.allclose(image[i, j], to_rgb(EXCITATORY if mask[i, j] > 0 else INHIBITORY))
        weak = (mask != 0) & (expected[layer] < expected[layer].max())
        assert not np.isclose(image[weak], image[i, j]).all(axis=1).any()


def test_learned_strength_sets_ribbon_width(trained) -> None:
    _, info = wiring_figure(trained.wiring, strengths=synapse_strengths(trained), view="bundles")
    expected = _strengths(trained)
    for layer in PAIRS:
        for bundle in info.bundles[layer]:
            (r0, r1), (c0, c1) = bundle.source, bundle.target
            assert bundle.strength == pytest.approx(expected[layer][r0:r1, c0:c1].sum())


def test_strengths_must_be_those_of_the_wiring(trained) -> None:
    synapses = synapse_strengths(trained)
    with pytest.raises(ValueError, match="which has"):
        wiring_figure(trained.wiring, strengths=synapses[1:])
    other = synapse_strengths(LiquidNCPNetwork(4, 16, 1, seed=8))
    with pytest.raises(ValueError, match="strengths"):
        wiring_figure(trained.wiring, strengths=other)


def test_heat_maps_show_the_masks() -> None:
    wiring = Wiring(3, 12, 2, seed=2)
    fig, _ = wiring_figure(wiring, input_names=["a", "b", "c"], output_names=["u", "v"])
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    masks = [wiring.masks.inter, wiring.masks.command, wiring.masks.motor]
    assert len(images) == 3
    for image, mask in zip(images, masks, strict=True):
        assert np.array_equal(np.asarray(image), mask.numpy())
    first = next(ax for ax in fig.axes if ax.images)
    assert [t.get_text() for t in first.get_yticklabels()] == ["a", "b", "c"]


def test_labels_from_names_and_dropped_past_a_size() -> None:
    fig, info = wiring_figure(
        Wiring(4, 16, 1, seed=7), input_names=["x", "y", "theta", "omega"], output_names=["tq"]
    )
    assert info.labels["sensory"] == ["x", "y", "theta", "omega"]
    assert info.labels["motor"] == ["tq"]
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"x", "theta", "tq"} <= texts
    _, info = wiring_figure(Wiring(MAX_LABELS + 1, 8, 2, seed=0))
    assert info.labels["sensory"] == [] and info.labels["motor"] == ["y0", "y1"]
    with pytest.raises(ValueError, match="input_names"):
        wiring_figure(Wiring(2, 5, 1, seed=0), input_names=["only one"])


def test_large_network_draws_every_synapse_one_by_one_when_asked() -> None:
    wiring = Wiring(12, 300, 4, seed=3)
    fig, info = wiring_figure(wiring, view="synapses")
    synapses = sum(
        int(np.count_nonzero(m))
        for m in (wiring.masks.inter, wiring.masks.command, wiring.masks.motor)
    )
    assert info.total_edges == synapses
    assert sum(len(s) for s, _ in _edges_by_layer(fig).values()) == synapses


def test_too_large_to_plot(monkeypatch) -> None:
    class Huge:  # sizes only: building a wiring this large would take a while
        counts = NeuronCounts(2, 6000, 4001, 1)

    with pytest.raises(VeloraError, match="too large to plot: 10,004 neurons"):
        check_plottable(Huge())
    monkeypatch.setattr(velora.viz.wiring, "MAX_PLOT_EDGES", 300)  # the 50-neuron one has 313
    with pytest.raises(VeloraError, match="too many synapses to draw one by one: 313"):
        check_plottable(Wiring(4, 50, 1, seed=7), "synapses")
    check_plottable(Wiring(4, 50, 1, seed=7), "bundles")


@pytest.mark.parametrize(
    ("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")]
)
def test_save_formats(tmp_path: Path, suffix: str, magic: bytes) -> None:
    path = tmp_path / f"w{suffix}"
    info = save_wiring_plot(Wiring(2, 5, 1, seed=1), path, dpi=40)
    assert path.read_bytes().startswith(magic)
    assert info.total_edges > 0
    assert not list(tmp_path.glob(".*")), "no temporary file left behind"


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "w.png"
    path.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="already exists"):
        save_wiring_plot(Wiring(2, 5, 1, seed=1), path)
    assert path.read_bytes() == b"keep"
    save_wiring_plot(Wiring(2, 5, 1, seed=1), path, force=True, dpi=40)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_bad_format_and_dpi(tmp_path: Path) -> None:
    with pytest.raises(VeloraError, match=r"use \.png, \.svg or \.pdf"):
        plot_format(tmp_path / "w.jpg")
    with pytest.raises(VeloraError, match="no extension"):
        plot_format(tmp_path / "w")
    with pytest.raises(VeloraError, match="dpi: expected 20 to 1200"):
        save_wiring_plot(Wiring(2, 5, 1, seed=1), tmp_path / "w.png", dpi=5)


def test_png_is_reproducible(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_wiring_plot(Wiring(3, 10, 1, seed=4), a, dpi=40)
    save_wiring_plot(Wiring(3, 10, 1, seed=4), b, dpi=40)
    assert a.read_bytes() == b.read_bytes()
