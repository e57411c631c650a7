"""Make examples/pendulum.csv: four damped pendulum swings, sampled at irregular times.

Columns: episode, t (seconds, irregular steps around 0.05 s), x, y (bob position, metres),
theta (angle from the bottom, radians), omega (angular velocity, rad/s). Deterministic:
``python examples/make_pendulum.py`` rewrites the same file.
"""

from pathlib import Path

import numpy as np

from velora.files.tables import write_csv

G, LENGTH, DAMPING = 9.81, 1.0, 0.25
EPISODES = [(2.5, 0.0), (-1.2, 2.0), (0.6, -3.5), (3.0, 0.5)]  # (theta0, omega0)
ROWS = 250
FINE = 0.001  # integration step (s)


def swing(theta0: float, omega0: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle and angular velocity at ``times`` (semi-implicit Euler on a fine grid)."""
    theta, omega, now = theta0, omega0, 0.0
    out_theta, out_omega = [], []
    for target in times:
        while now < target - 1e-12:
            omega += FINE * (-(G / LENGTH) * np.sin(theta) - DAMPING * omega)
            theta += FINE * omega
            now += FINE
        out_theta.append(theta)
        out_omega.append(omega)
    return np.array(out_theta), np.array(out_omega)


def main() -> None:
    rng = np.random.default_rng(7)
    cols: dict[str, list] = {k: [] for k in ("episode", "t", "x", "y", "theta", "omega")}
    for i, (theta0, omega0) in enumerate(EPISODES):
        steps = np.round(rng.uniform(0.03, 0.07, ROWS), 3)
        times = np.round(np.cumsum(steps) - steps[0], 3)
        theta, omega = swing(theta0, omega0, times)
        cols["episode"] += [f"swing{i + 1}"] * ROWS
        cols["t"].append(times)
        cols["x"].append(LENGTH * np.sin(theta))
        cols["y"].append(-LENGTH * np.cos(theta))
        cols["theta"].append(theta)
        cols["omega"].append(omega)
    arrays = [np.array(cols["episode"]), np.concatenate(cols["t"])]
    arrays += [np.concatenate(cols[k]).astype(np.float32) for k in ("x", "y", "theta", "omega")]
    path = Path(__file__).with_name("pendulum.csv")
    write_csv(path, list(cols), arrays, force=True)
    print(f"wrote {path} ({len(arrays[0])} rows)")


if __name__ == "__main__":
    main()
