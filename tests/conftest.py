"""Shared test helpers, and the Hypothesis profiles.

``make test`` (and so CI) is deterministic: the default profile "ci" derandomizes every
property test and replays nothing saved under ``.hypothesis/``, so each run tries the same
examples. ``make fuzz`` (``HYPOTHESIS_PROFILE=fuzz``) explores at random with 20 times the
examples (tests that set their own count scale it with ``tests.helpers.examples``), and saves
the failures it finds so that the next fuzz run tries them first.
"""

import os

import numpy as np
import pytest
import torch
from hypothesis import settings
from hypothesis.errors import InvalidArgument

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile(
    "fuzz", max_examples=2000, derandomize=False, deadline=None, print_blob=True
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
try:
    settings.load_profile(PROFILE)
except InvalidArgument:
    raise pytest.UsageError(
        f"HYPOTHESIS_PROFILE={PROFILE!r}: no such profile (use 'ci' or 'fuzz')"
    ) from None


@pytest.fixture(autouse=True)
def _fixed_seed() -> None:
    """Every test starts from the same global random state."""
    torch.manual_seed(0)
    np.random.seed(0)


# ---- models and files shared by library tests and CLI tests ---------------------------------
# (imports inside the fixtures, so that this file's header stays the Hypothesis profiles')


@pytest.fixture
def trained():
    """The example network with every weight moved, as after training (off-mask ones too)."""
    from tests.helpers import EXAMPLE
    from velora.files.loading import load_model

    net, _ = load_model(EXAMPLE)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return net


@pytest.fixture
def good_file(tmp_path, trained):
    """``trained`` saved with the example spec as ``model.safetensors``."""
    from tests.helpers import EXAMPLE
    from velora.files import checkpoint
    from velora.spec import load_spec

    return checkpoint.save(trained, tmp_path / "model.safetensors", load_spec(EXAMPLE))


@pytest.fixture
def ckpt(tmp_path):
    """The example network, as built from its spec, saved as ``pendulum.safetensors``."""
    from tests.helpers import EXAMPLE
    from velora.files import checkpoint
    from velora.files.loading import load_model

    net, spec = load_model(EXAMPLE)
    return checkpoint.save(net, tmp_path / "pendulum.safetensors", spec)


@pytest.fixture
def spec(tmp_path):
    """The path of a tiny spec (3 inputs, 8 neurons, 2 outputs), for `run` tests.

    tests/files/test_checkpoint.py overrides this with the example spec, loaded."""
    from tests.helpers import TINY_SPEC

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


@pytest.fixture
def net(spec):
    """The network of ``spec``."""
    from velora.files.loading import load_model

    return load_model(spec)[0]
