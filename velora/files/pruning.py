"""``prune_model``: what ``velora prune`` does, as one library call.

Read a model (checkpoint or spec), prune it (``velora.models.pruning``: the strongest synapses of
each layer, every target keeping at least one input) and write the result as a checkpoint whose
metadata records what it was pruned from (``pruned_from``). The output is checked before any
work and written atomically; the written file is read back and verified before it replaces
anything, so a failure leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from velora.errors import VeloraError
from velora.files import checkpoint
from velora.files.atomic import atomic_path, check_writable
from velora.files.checkpoint_file import PrunedFrom, tensor_digest, write_checkpoint
from velora.files.loading import load_model
from velora.files.sniff import is_checkpoint_path
from velora.models.pruning import LayerPruning, Pruning, check_keep, prune_network
from velora.spec import DEFAULT_MAX_MEMORY, check_memory

SUFFIX = ".safetensors"


@dataclass(frozen=True)
class PruneReport:
    """What ``prune_model`` wrote: the file, its size and SHA-256, what it was pruned from and
    the synapses of each layer before and after."""

    output: Path
    n_bytes: int
    sha256: str
    pruned_from: PrunedFrom
    layers: tuple[LayerPruning, ...]
    pruning: Pruning

    def to_dict(self) -> dict:
        return {
            "output": str(self.output),
            "bytes": self.n_bytes,
            "sha256": self.sha256,
            "pruned_from": self.pruned_from.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "before": sum(layer.before for layer in self.layers),
            "after": sum(layer.after for layer in self.layers),
        }


def prune_model(
    model: str | Path,
    output: str | Path,
    *,
    keep: float,
    force: bool = False,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> PruneReport:
    """Prune the network in ``model`` (a checkpoint, or a spec: its seeded weights) to the
    fraction ``keep`` of each layer's synapses and write it to ``output`` (a ``.safetensors``
    checkpoint; an existing file is replaced only with ``force``). Extra tensors of the source
    (e.g. training state) are not carried over: they belong to the unpruned network."""
    keep = check_keep(keep)
    output = Path(output)
    if output.suffix != SUFFIX:
        raise VeloraError(
            f"output: {output} should end in {SUFFIX} (prune writes a velora checkpoint; "
            "velora export converts it to other formats)",
            parameter="output",
        )
    check_writable(output, force=force)
    if is_checkpoint_path(model):
        source = checkpoint.load_checkpoint(model)
        network, spec, sha256 = source.model, source.spec, source.metadata.sha256
    else:
        network, spec = load_model(model, max_memory=max_memory)
        sha256 = tensor_digest(network.to_tensors())
    check_memory(spec, max_memory, "prune")
    pruning = prune_network(network, keep)
    pruned_from = PrunedFrom(
        file=str(model),
        sha256=sha256,
        keep=keep,
        synapses_before={layer.layer: layer.before for layer in pruning.layers},
    )
    seed = spec.seed if spec.seed is not None else network.seed
    with atomic_path(output, force=force) as tmp:
        write_checkpoint(
            tmp, pruning.network.to_tensors(), spec, seed=seed, pruned_from=pruned_from
        )
        written = checkpoint.load_checkpoint(tmp)
        if not checkpoint.verify(written).ok:  # pragma: no cover - an internal fault
            raise RuntimeError(f"{output}: the pruned checkpoint does not verify")
        n_bytes, digest = written.n_bytes, written.metadata.sha256
    return PruneReport(output, n_bytes, digest, pruned_from, pruning.layers, pruning)
