"""Several processes, one job: devices, the launcher's environment and the process group.

velora's workflows train data-parallel and run sharded when ``torchrun`` (or any launcher that
sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``) starts several processes.
``setup`` joins the process group once per process (gloo for CPU tensors, NCCL for CUDA tensors
when the machine has CUDA) and the group stays until the process exits; ``current`` tells any
function whether it runs as one of several processes. Outside such a launch, or with a world
size of 1, nothing here does anything: one process, rank 0.

Every process reads the same inputs, so bad input fails on all of them alike; ``Context.check``
lets the processes agree on whether a step went well, so that exactly one of them (the lowest
rank that failed) reports the error and the others end quietly with ``PeerFailure``. Waiting on
another process never hangs for good: a process that dies closes its connections, which ends
every wait on it with ``PeerFailure``, and every wait is bounded by the group's timeout.

Torch-free at import, so that the command line can show ``DEFAULT_DEVICE`` and read the launch
environment without importing torch.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from velora.errors import VeloraError

if TYPE_CHECKING:
    import numpy as np
    import torch

DEFAULT_DEVICE = "cpu"  # reproducible everywhere; "auto" takes CUDA when the machine has it
DEVICES = "cpu, cuda, cuda:N, mps or auto"
DEFAULT_TIMEOUT = timedelta(minutes=30)  # longest wait on another process (torch's default)
_LAUNCH_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# How the gloo and NCCL transports say that the other side of a connection went away.
_PEER_GONE = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "timed out",
    "application timeout caused pair closure",
    "nccl communicator was aborted",
    "socket timeout",
)


class PeerFailure(Exception):
    """Another process of the job failed and reports its own error (or was lost): this one
    ends quietly with ``code`` (2 for bad input, 130 for an interruption, 1 otherwise)."""

    def __init__(self, code: int = 1, rank: int | None = None) -> None:
        who = "another process" if rank is None else f"the process of rank {rank}"
        super().__init__(f"{who} of the job failed")
        self.code = code
        self.rank = rank


@dataclass(frozen=True)
class Launch:
    """What the launcher told this process through its environment."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def launch(environ: Mapping[str, str] | None = None) -> Launch | None:
    """This process's place in a multi-process launch (torchrun's ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ...), or None outside one or when the world holds a single process."""
    env = os.environ if environ is None else environ
    if not all(key in env for key in _LAUNCH_KEYS):
        return None
    values = {}
    for key, default in (("RANK", None), ("WORLD_SIZE", None), ("LOCAL_RANK", "0"),
                         ("LOCAL_WORLD_SIZE", "1")):  # fmt: skip
        text = env.get(key, default)
        if text is None or not text.strip().isdigit():
            raise VeloraError(f"environment variable {key}={text!r}: expected an integer >= 0")
        values[key] = int(text)
    if values["WORLD_SIZE"] < 2:
        return None
    if values["RANK"] >= values["WORLD_SIZE"]:
        raise VeloraError(
            f"environment variable RANK={values['RANK']}: expected less than "
            f"WORLD_SIZE={values['WORLD_SIZE']}"
        )
    return Launch(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"],
                  max(values["LOCAL_WORLD_SIZE"], 1))  # fmt: skip


def single_process() -> bool:
    """True outside a multi-process launch with no process group made by the caller: one
    process, nothing to join. Torch-free when torch is not imported yet."""
    try:
        info = launch()
    except VeloraError:  # a malformed launch: setup reports it
        return False
    return info is None and not _initialized()


def is_main_process() -> bool:
    """True in a process that is not part of a multi-process launch, or is its rank 0: the one
    that prints and writes. Torch-free."""
    try:
        info = launch()
    except VeloraError:  # a malformed launch: the job reports it when it starts
        return True
    return info is None or info.rank == 0


def resolve_device(name: str = DEFAULT_DEVICE, *, launched: Launch | None = None) -> torch.device:
    """The torch device that ``name`` (cpu, cuda, cuda:N, mps or auto) means on this machine.

    ``auto`` takes CUDA when the machine has it, else the CPU. Under a multi-process launch
    ``cuda`` is ``cuda:LOCAL_RANK``, so that each process of a node takes its own GPU. A device
    the machine lacks raises ``VeloraError`` (parameter ``device``) with one line.
    """
    import torch

    text = str(name).strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not torch.backends.mps.is_available():
            raise VeloraError("device: MPS is not available on this machine", parameter="device")
        if launched is not None:
            raise VeloraError(
                "device: mps cannot be shared by several processes; use cpu or cuda",
                parameter="device",
            )
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise VeloraError(f"device: expected {DEVICES}, got {name!r}", parameter="device")
    if not torch.cuda.is_available():
        why = " (this PyTorch build has no CUDA support)" if torch.version.cuda is None else ""
        raise VeloraError(f"device: CUDA is not available on this machine{why}",
                          parameter="device")  # fmt: skip
    count = torch.cuda.device_count()
    if match.group(1) is not None:
        index = int(match.group(1))
        if launched is not None and launched.local_world_size > 1:
            raise VeloraError(
                f"device: {text} would give one GPU to every process of this node; use cuda "
                "(each process takes cuda:LOCAL_RANK)",
                parameter="device",
            )
    else:
        index = launched.local_rank if launched is not None else torch.cuda.current_device()
    if index >= count:
        whose = f"the process of LOCAL_RANK {index} takes" if match.group(1) is None else "no"
        raise VeloraError(
            f"device: {whose} cuda:{index}, but this machine has "
            f"{count} CUDA device{'s' if count != 1 else ''}",
            parameter="device",
        )
    return torch.device("cuda", index)


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world_size`` processes (one, rank 0, outside
    a multi-process launch) and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: Any = field(default=None, compare=False)  # a torch.device; None: the CPU

    @property
    def parallel(self) -> bool:
        """Whether this process is one of several that share the work."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0: the one that prints and writes."""
        return self.rank == 0

    @property
    def backend(self) -> str | None:
        """The process group's backend ("gloo", or "cpu:gloo,cuda:nccl"), None for one process."""
        if not self.parallel:
            return None
        import torch.distributed as dist

        return str(dist.get_backend())

    # -- agreeing -----------------------------------------------------------------------------

    def check(self, error: BaseException | None = None) -> None:
        """Agree on whether a step went well on every process; call it on all of them.

        If any failed, every process raises: the lowest failing rank its own ``error``, every
        other one ``PeerFailure`` with that rank's exit code, so that the job reports one error.
        With one process, ``error`` is simply raised.
        """
        if not self.parallel:
            if error is not None:
                raise error
            return
        codes = _gather_ints(self, exit_code(error))
        failed = [rank for rank, code in enumerate(codes) if code != 0]
        if not failed:
            return
        if error is not None and self.rank == failed[0]:
            raise error
        raise PeerFailure(codes[failed[0]], failed[0]) from None

    @contextlib.contextmanager
    def agreement(self) -> Iterator[None]:
        """``check`` around a block: an error (or Ctrl-C) in it on any process ends the block
        on every process, as ``check`` says; without one, the processes go on together."""
        error: BaseException | None = None
        try:
            yield
        except (Exception, KeyboardInterrupt) as exc:
            error = exc
        self.check(error)

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """The sums of ``values`` over every process (float64); ``values`` itself for one."""
        if not self.parallel:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        where = _collective_device()
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=where)
        with peer_errors():
            dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.parallel:
            self.all_sum([0.0])


def exit_code(error: BaseException | None) -> int:
    """The command line's exit code for ``error``: 0 none, 2 bad input, 130 an interruption,
    a peer's own code, 1 anything else."""
    if error is None:
        return 0
    if isinstance(error, PeerFailure):
        return error.code
    if isinstance(error, VeloraError):
        return 2
    if isinstance(error, KeyboardInterrupt):
        return 130
    return 1


def _gather_ints(context: Context, value: int) -> list[int]:
    import torch
    import torch.distributed as dist

    where = _collective_device()
    mine = torch.tensor([value], dtype=torch.int64, device=where)
    every = [torch.zeros(1, dtype=torch.int64, device=where) for _ in range(context.world_size)]
    with peer_errors():
        dist.all_gather(every, mine)
    return [int(t) for t in every]


def _collective_device() -> torch.device:
    """Where small collectives put their tensors: the CPU (gloo), unless the process group
    speaks NCCL alone (one that the caller made), which takes GPU tensors only."""
    import torch
    import torch.distributed as dist

    if str(dist.get_backend()) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def is_peer_loss(error: BaseException) -> bool:
    """Whether ``error`` (from a collective or a send) says that another process went away."""
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(words in text for words in _PEER_GONE)


@contextlib.contextmanager
def peer_errors() -> Iterator[None]:
    """Turn the transport's "the other side went away" errors into ``PeerFailure``."""
    try:
        yield
    except RuntimeError as exc:
        if is_peer_loss(exc):
            raise PeerFailure(1) from exc
        raise


# -- joining the group ------------------------------------------------------------------------


def setup(device: str | None = DEFAULT_DEVICE, *, timeout: timedelta = DEFAULT_TIMEOUT) -> Context:
    """This process's ``Context``, joining the launch's process group on first use.

    Outside a multi-process launch: one process on ``device``. Under torchrun: the process
    group (gloo, and NCCL for CUDA tensors when the machine has CUDA) is created once and kept
    until the process exits, and SIGTERM (which the launcher sends to end the job) acts as
    Ctrl-C unless the program handles it already. ``device`` is checked on every process and
    the processes agree on it, so that a device one of them lacks ends the job with one error;
    None is the CPU.
    """
    import torch

    info = launch()
    initialized = _initialized()
    if info is None and not initialized:
        return Context(device=resolve_device(device or DEFAULT_DEVICE))
    import torch.distributed as dist

    if not initialized:
        cuda = torch.cuda.is_available() and dist.is_nccl_available()
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo",
                                timeout=timeout)  # fmt: skip
        atexit.register(_leave)
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_interrupt)
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = info.local_rank if info is not None else 0
    context = Context(rank, world, local_rank, torch.device("cpu"))
    chosen = None
    error: BaseException | None = None
    try:
        # A group the caller made without a launcher: "cuda" is the caller's current device.
        chosen = resolve_device(device or DEFAULT_DEVICE, launched=info)
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
    except (VeloraError, RuntimeError) as exc:
        error = exc
    context.check(error)
    return Context(rank, world, local_rank, chosen)


def current() -> Context:
    """The ``Context`` of the process group this process has joined (by ``setup`` or by
    ``torch.distributed.init_process_group``), or one process when there is none."""
    if not _initialized():
        return Context()
    import torch.distributed as dist

    if dist.get_world_size() < 2:
        return Context()
    info = launch()
    return Context(dist.get_rank(), dist.get_world_size(), info.local_rank if info else 0)


def _initialized() -> bool:
    if "torch" not in sys.modules:  # torch not even imported: no group either
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def abandon() -> None:
    """Leave the job after a failure that the other processes do not share: every connection
    to them closes (once nothing else holds the group: DistributedDataParallel does, so
    training relies on the failed process exiting), so that a process waiting on this one stops
    at once with ``PeerFailure`` instead of waiting for the timeout. This process takes no
    further part in the job."""
    _leave()


def _leave() -> None:
    """Leave the process group at exit (NCCL warns when a process exits inside one)."""
    with contextlib.suppress(Exception):
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


# -- signals ----------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class StopRequest:
    """While active (a context manager), Ctrl-C, SIGTERM and SIGHUP only set ``requested``:
    the loop stops at its next safe point (after a batch or a chunk; processes that must stop
    together agree on it at their next collective) instead of being torn out of compiled code,
    which cannot take an exception raised in a signal handler. A second signal interrupts at
    once. On leaving, the signal is handed over to the Python handler that was there before
    (the command line's records it for the exit code)."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum

    def check(self) -> None:
        """Raise KeyboardInterrupt here, at a safe point, when a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for name in ("SIGINT", "SIGTERM", "SIGHUP"):
                if hasattr(signal, name):
                    signum = getattr(signal, name)
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        before = self._previous.get(self.signum) if self.signum is not None else None
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self.signum is not None and callable(before):
            # A Python handler was there (the command line's records the signal for the exit
            # code; Python's own turns SIGINT into KeyboardInterrupt): hand the signal over,
            # now that the loop stands at a safe point. The default action is not taken: the
            # loop has stopped cleanly, which is what the signal asked for.
            signum, self.signum = self.signum, None
            signal.raise_signal(signum)


# -- ordered results --------------------------------------------------------------------------


class Relay:
    """Numbered pieces of work shared round-robin, results gathered on rank 0 in order.

    Piece ``i`` belongs to rank ``i % world_size``. Its owner computes it and ``send``s the
    result (bytes) to rank 0, which ``receive``s the pieces in order; a state that one piece
    hands to the next (a sequence cut by a chunk boundary) goes from owner to owner with
    ``pass_state``/``take_state``. Sends do not wait for the receiver, but at most ``depth``
    are in flight per process, which bounds memory; ``flush`` waits for all of them. The bytes
    travel as CPU tensors: the process group needs gloo (``setup`` makes one that has it).
    """

    def __init__(self, context: Context, depth: int = 4) -> None:
        self.context = context
        self.depth = max(int(depth), 1)
        self._pending: deque = deque()

    def owner(self, index: int) -> int:
        """The rank that computes piece ``index``."""
        return index % self.context.world_size

    def mine(self, index: int) -> bool:
        """Whether this process computes piece ``index``."""
        return self.owner(index) == self.context.rank

    def send(self, index: int, payload: bytes | np.ndarray, to: int = 0) -> None:
        """Send piece ``index``'s result (bytes) to rank ``to`` without waiting for it."""
        import numpy as np
        import torch

        data = np.frombuffer(payload, dtype=np.uint8) if isinstance(payload, bytes) else payload
        body = torch.from_numpy(np.array(data, dtype=np.uint8).reshape(-1))  # a copy, writable
        head = torch.tensor([body.numel()], dtype=torch.int64)
        self._isend(head, to, _tag(index, 0))
        if body.numel():
            self._isend(body, to, _tag(index, 1))

    def receive(self, index: int, source: int) -> np.ndarray:
        """Wait for piece ``index``'s result from rank ``source``; returns its bytes (uint8)."""
        import torch

        head = torch.zeros(1, dtype=torch.int64)
        self._recv(head, source, _tag(index, 0))
        body = torch.empty(int(head), dtype=torch.uint8)
        if body.numel():
            self._recv(body, source, _tag(index, 1))
        return body.numpy()

    def pass_state(self, index: int, state: np.ndarray, to: int) -> None:
        """Hand ``state`` (float32) to rank ``to``, which computes piece ``index`` from it."""
        import numpy as np
        import torch

        self._isend(torch.from_numpy(np.ascontiguousarray(state, dtype=np.float32)).clone(), to,
                    _tag(index, 2))  # fmt: skip

    def take_state(self, index: int, shape: tuple[int, ...], source: int) -> np.ndarray:
        """Wait for the state that piece ``index`` starts from, from rank ``source``."""
        import torch

        state = torch.empty(shape, dtype=torch.float32)
        self._recv(state, source, _tag(index, 2))
        return state.numpy()

    def flush(self) -> None:
        """Wait until everything sent has been received."""
        while self._pending:
            self._wait(self._pending.popleft())

    def _isend(self, tensor: torch.Tensor, to: int, tag: int) -> None:
        import torch.distributed as dist

        with peer_errors():
            work = dist.isend(tensor, to, tag=tag)
        self._pending.append((work, tensor))  # the tensor stays alive until it is sent
        while len(self._pending) > 2 * self.depth:
            self._wait(self._pending.popleft())

    def _recv(self, tensor: torch.Tensor, source: int, tag: int) -> None:
        import torch.distributed as dist

        with peer_errors():
            dist.recv(tensor, source, tag=tag)

    @staticmethod
    def _wait(item: tuple) -> None:
        with peer_errors():
            item[0].wait()


def _tag(index: int, kind: int) -> int:
    """The message tag of piece ``index``'s header (0), body (1) or handed-over state (2)."""
    return 3 * index + kind
