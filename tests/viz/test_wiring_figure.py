"""The wiring figure: what it draws is checked against the masks, computed independently."""

from pathlib import Path

import numpy as np
import pytest

from velora.errors import OutputExistsError, VeloraError
from velora.viz.wiring import (
    MAX_LABELS,
    check_plottable,
    plot_format,
    save_wiring_plot,
    wiring_figure,
)
from velora.wiring import Wiring

PAIRS = {
    "sensory->inter": ("sensory", "inter", "inter"),
    "inter->command": ("inter", "command", "command"),
    "command->motor": ("command", "motor", "motor"),
}


def _edges_by_layer(fig) -> dict[str, dict[str, np.ndarray]]:
    """Segments of every edge collection in the figure, keyed by layer and polarity."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for ax in fig.axes:
        for collection in ax.collections:
            gid = collection.get_gid() or ""
            if gid.startswith("edges:"):
                _, layer, sign = gid.split(":")
                segments = collection.get_segments()
                found.setdefault(layer, {})[sign] = np.array(segments).reshape(-1, 2, 2)
    return found


@pytest.mark.parametrize(("n_in", "n", "n_out", "seed"), [(2, 5, 1, 1), (4, 16, 1, 7)])
def test_one_edge_per_synapse_with_its_polarity(n_in, n, n_out, seed) -> None:
    wiring = Wiring(n_in, n, n_out, seed=seed)
    fig, info = wiring_figure(wiring)
    drawn = _edges_by_layer(fig)
    total = 0
    for layer, (source, target, attr) in PAIRS.items():
        mask = getattr(wiring.masks, attr).numpy()
        for sign, value in (("+", 1), ("-", -1)):
            expected = {(int(i), int(j)) for i, j in zip(*np.nonzero(mask == value), strict=True)}
            segments = drawn[layer][sign]
            assert len(segments) == len(expected)
            # Map each segment's ends back to neuron indices through the drawn positions.
            src_pos, tgt_pos = info.positions[source], info.positions[target]
            got = set()
            for (x0, y0), (x1, y1) in segments:
                i = int(np.argmin(np.hypot(src_pos[:, 0] - x0, src_pos[:, 1] - y0)))
                j = int(np.argmin(np.hypot(tgt_pos[:, 0] - x1, tgt_pos[:, 1] - y1)))
                assert np.allclose(src_pos[i], (x0, y0)) and np.allclose(tgt_pos[j], (x1, y1))
                got.add((i, j))
            assert got == expected
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
    assert info.labels == {"sensory": ["x", "y", "theta", "omega"], "motor": ["tq"]}
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"x", "theta", "tq"} <= texts
    _, info = wiring_figure(Wiring(MAX_LABELS + 1, 8, 2, seed=0))
    assert info.labels["sensory"] == [] and info.labels["motor"] == ["y0", "y1"]
    with pytest.raises(ValueError, match="input_names"):
        wiring_figure(Wiring(2, 5, 1, seed=0), input_names=["only one"])


def test_large_network_draws_every_synapse() -> None:
    wiring = Wiring(12, 300, 4, seed=3)
    _, info = wiring_figure(wiring)
    synapses = sum(
        int(np.count_nonzero(m))
        for m in (wiring.masks.inter, wiring.masks.command, wiring.masks.motor)
    )
    assert info.total_edges == synapses


def test_too_large_to_plot() -> None:
    with pytest.raises(VeloraError, match="too large to plot"):
        check_plottable(Wiring(2, 4000, 1, seed=0))


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
