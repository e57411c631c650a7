"""The wiring figure names the design in its subtitle: type, explicit fan-outs, sparsity."""

import pytest
from matplotlib.figure import Figure

from velora.viz.wiring import wiring_figure
from velora.wiring import Wiring


def texts(fig: Figure) -> str:
    return " | ".join(ax.get_title() for ax in fig.axes)


@pytest.mark.parametrize(
    ("wiring", "words"),
    [
        (
            Wiring.ncp(4, 20, 2, inter_neurons=12, sensory_fanout=4, motor_fanin=5, seed=7),
            "20 neurons · ncp: sensory_fanout 4, motor_fanin 5 · sparsity 0.5 · seed 7",
        ),
        (
            Wiring.ncp(4, 20, 2, sensory_fanout=4, inter_fanout=3, motor_fanin=5, seed=7),
            "20 neurons · ncp: sensory_fanout 4, inter_fanout 3, motor_fanin 5 · seed 7",
        ),
        (Wiring(4, 16, 1, seed=7), "16 neurons · ncp · sparsity 0.5 · seed 7"),
        (Wiring.fully_connected(3, 10, 2, seed=1), "10 neurons · fully_connected · seed 1"),
        (
            Wiring.random(3, 10, 2, sparsity_level=0.7, seed=1),
            "10 neurons · random · sparsity 0.7 · seed 1",
        ),
    ],
)
def test_subtitle_names_the_design(wiring: Wiring, words: str) -> None:
    fig, _ = wiring_figure(wiring, title="designed")
    assert words in texts(fig)
