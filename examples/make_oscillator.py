"""Write examples/oscillator.csv: a damped, driven oscillator sampled at irregular times.

Each sequence starts at rest; a piecewise-constant force (the input column ``force``) pushes a
damped spring, whose ``position`` and ``velocity`` are the targets. Rows are sampled at random
intervals (column ``t``), and column ``run`` numbers the sequences. Pure Python + numpy, seeded:

    python examples/make_oscillator.py [--out examples/oscillator.csv] [--runs 32] [--rows 120]
"""

import argparse
from pathlib import Path

import numpy as np

OMEGA = 0.35  # natural angular frequency (radians per time unit): a period of about 18 steps
ZETA = 0.12  # damping ratio


def derivative(state: np.ndarray, force: float) -> np.ndarray:
    """d/dt (position, velocity) of x'' + 2 zeta omega x' + omega^2 (x - force) = 0: the force
    moves the spring's rest position."""
    x, v = state
    return np.array([v, OMEGA**2 * (force - x) - 2 * ZETA * OMEGA * v])


def advance(state: np.ndarray, force: float, dt: float, substeps: int = 20) -> np.ndarray:
    """Runge-Kutta 4 over ``dt`` with a constant force."""
    h = dt / substeps
    for _ in range(substeps):
        k1 = derivative(state, force)
        k2 = derivative(state + h / 2 * k1, force)
        k3 = derivative(state + h / 2 * k2, force)
        k4 = derivative(state + h * k3, force)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return state


def simulate(rng: np.random.Generator, rows: int) -> list[tuple[float, float, float, float]]:
    """One run from rest: (t, force, position, velocity) per row, irregular time steps."""
    dts = rng.uniform(0.5, 1.5, size=rows)
    dts[0] = 0.0
    times = np.cumsum(dts)
    switches = np.cumsum(rng.uniform(8.0, 30.0, size=rows))  # when the force changes
    levels = rng.uniform(-1.0, 1.0, size=rows + 1)
    state = np.zeros(2)
    out = []
    for i, t in enumerate(times):
        force = float(levels[np.searchsorted(switches, t)])
        if i:
            # The force of this row acts since the previous sample.
            state = advance(state, force, float(dts[i]))
        out.append((float(t), force, float(state[0]), float(state[1])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("oscillator.csv"))
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    lines = ["run,t,force,position,velocity"]
    for run in range(args.runs):
        for t, force, x, v in simulate(rng, args.rows):
            lines.append(f"{run},{t:.4f},{force:.5f},{x:.5f},{v:.5f}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {args.runs} runs x {args.rows} rows")


if __name__ == "__main__":
    main()
