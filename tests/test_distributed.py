"""velora.distributed on one process: the launch environment, devices, agreement and stop
requests (the multi-process behaviour is tested under torchrun in tests/training,
tests/inference and tests/cli)."""

import os
import signal
import subprocess
import sys

import pytest
import torch

from velora import distributed
from velora.distributed import Context, Launch, PeerFailure, StopRequest, launch, resolve_device
from velora.errors import DataError, VeloraError

TORCHRUN_ENV = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}
CUDA = torch.cuda.is_available()
MPS = torch.backends.mps.is_available()


def test_launch_reads_the_launchers_environment() -> None:
    assert launch({}) is None
    assert launch({**TORCHRUN_ENV, "WORLD_SIZE": "1", "RANK": "0"}) is None  # one process
    env = {**TORCHRUN_ENV, "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert launch(env) == Launch(rank=1, world_size=2, local_rank=1, local_world_size=2)
    assert launch(TORCHRUN_ENV) == Launch(1, 2, 0, 1)  # a launcher without LOCAL_*
    for key, value in (("RANK", "one"), ("WORLD_SIZE", "-2"), ("RANK", "2")):
        with pytest.raises(VeloraError, match=f"environment variable {key}=") as caught:
            launch({**TORCHRUN_ENV, key: value})
        assert "\n" not in str(caught.value)


def test_is_main_process_without_torch(monkeypatch) -> None:
    for key in TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)
    assert distributed.is_main_process()
    for key, value in TORCHRUN_ENV.items():
        monkeypatch.setenv(key, value)
    assert not distributed.is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert distributed.is_main_process()
    code = "import sys, velora.distributed; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    with pytest.raises(VeloraError) as caught:
        resolve_device("gpu")
    assert str(caught.value) == "device: expected cpu, cuda, cuda:N, mps or auto, got 'gpu'"
    assert caught.value.parameter == "device"


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line_naming_the_device() -> None:
    for name in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(VeloraError) as caught:
            resolve_device(name)
        message = str(caught.value)
        assert message.startswith("device: CUDA is not available on this machine")
        assert "\n" not in message and caught.value.parameter == "device"


@pytest.mark.skipif(MPS, reason="this machine has MPS")
def test_mps_without_mps() -> None:
    with pytest.raises(VeloraError, match=r"^device: MPS is not available on this machine$"):
        resolve_device("mps")


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_under_torchrun_is_the_local_rank() -> None:
    count = torch.cuda.device_count()
    assert resolve_device("cuda", launched=Launch(0, 2, 0, 2)) == torch.device("cuda", 0)
    if count > 1:
        assert resolve_device("cuda", launched=Launch(1, 2, 1, 2)) == torch.device("cuda", 1)
    with pytest.raises(VeloraError, match="one GPU to every process"):
        resolve_device("cuda:0", launched=Launch(0, 2, 0, 2))
    with pytest.raises(VeloraError, match=f"but this machine has {count} CUDA device"):
        resolve_device("cuda", launched=Launch(0, 2, count, count + 1))


def test_one_process_context_does_nothing() -> None:
    context = distributed.setup("cpu")
    assert context == Context() and not context.parallel and context.is_main
    assert context.device == torch.device("cpu") and context.backend is None
    assert distributed.current() == Context()
    assert context.all_sum([1.5, 2]) == [1.5, 2.0]
    context.check(None)
    context.barrier()
    with pytest.raises(DataError, match="bad"):
        context.check(DataError("bad"))
    with pytest.raises(DataError, match="bad"), context.agreement():
        raise DataError("bad")
    with context.agreement():
        pass


def test_exit_codes_and_peer_losses() -> None:
    assert distributed.exit_code(None) == 0
    assert distributed.exit_code(DataError("x")) == 2
    assert distributed.exit_code(KeyboardInterrupt()) == 130
    assert distributed.exit_code(PeerFailure(2, 0)) == 2
    assert distributed.exit_code(RuntimeError("x")) == 1
    gone = RuntimeError("[../gloo/transport/tcp/pair.cc:553] Connection closed by peer [1.2.3.4]")
    assert distributed.is_peer_loss(gone) and not distributed.is_peer_loss(RuntimeError("x"))
    with pytest.raises(PeerFailure) as caught, distributed.peer_errors():
        raise gone
    assert caught.value.code == 1 and caught.value.__cause__ is gone
    with pytest.raises(RuntimeError, match="other"), distributed.peer_errors():
        raise RuntimeError("other")


def test_stop_request_turns_the_first_signal_into_a_flag() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested  # the handler ran: no exception, the work goes on
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # a second signal stops at once
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
