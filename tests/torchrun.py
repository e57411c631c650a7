"""Launching torchrun jobs from tests: world size 2 on localhost (gloo), bounded in time.

``--standalone`` lets torchrun pick free ports, so that tests running at the same time on one
machine never collide. Every job carries a marker in its environment; ``end`` stops the
launcher and then every process still carrying the marker (torchrun starts its workers in
sessions of their own), so that no test leaves a process behind, even on a timeout.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TORCHRUN = BIN / "torchrun"
VELORA = BIN / "velora"
JOBS = Path(__file__).resolve().parent / "jobs"  # scripts that run inside a job
TIMEOUT = 180  # seconds for a whole job, start-up included (a busy 2-core machine)


def _available() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:
        return False
    return TORCHRUN.exists() and dist.is_available() and dist.is_gloo_available()


needs_torchrun = pytest.mark.skipif(not _available(), reason="torchrun with gloo is not available")


@dataclass
class Job:
    """A finished job: the launcher's exit code and everything the processes printed."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def errors(self) -> list[str]:
        """The ``error:`` lines that velora printed (torchrun's own report left out)."""
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]

    def lines(self, pattern: str) -> list[str]:
        """The lines of stderr that match ``pattern`` (a regular expression)."""
        return [line for line in self.stderr.splitlines() if re.search(pattern, line)]


def command(args: list[str], *, nproc: int = 2, script: Path | None = None) -> list[str]:
    """The torchrun command line: ``velora ARGS`` on ``nproc`` processes, or a job script."""
    head = [str(TORCHRUN), "--standalone", f"--nproc-per-node={nproc}"]
    if script is None:
        return [*head, "--no-python", str(VELORA), *args]
    return [*head, str(script), *args]


def start(args: list[str], cwd: Path, *, nproc: int = 2, script: Path | None = None):
    """Start a job in ``cwd``; returns the launcher's Popen (stdout and stderr to files)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["VELORA_TEST_JOB"] = marker = uuid.uuid4().hex
    env["PYTHONUNBUFFERED"] = "1"
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 (finish)
    proc = subprocess.Popen(
        command(args, nproc=nproc, script=script),
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    proc.marker, proc.files, proc.started = marker, (out, err), time.perf_counter()  # type: ignore[attr-defined]
    return proc


def finish(proc, timeout: float = TIMEOUT) -> Job:
    """Wait for a job (ending it on a timeout, which fails the test) and collect its output."""
    try:
        proc.wait(timeout=max(timeout - (time.perf_counter() - proc.started), 1))
    except subprocess.TimeoutExpired:
        end(proc)
        pytest.fail(f"the torchrun job did not end within {timeout} s")
    finally:
        end(proc)
    seconds = time.perf_counter() - proc.started
    texts = []
    for handle in proc.files:
        handle.seek(0)
        texts.append(handle.read().decode("utf-8", "replace"))
        handle.close()
    return Job(proc.returncode, texts[0], texts[1], seconds)


def run(args: list[str], cwd: Path, *, nproc: int = 2, script: Path | None = None) -> Job:
    """Run a job to its end."""
    return finish(start(args, cwd, nproc=nproc, script=script))


def end(proc) -> None:
    """Stop the launcher if it still runs, then every process of the job still alive."""
    if proc.poll() is None:
        with _gone():
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    for pid in _marked(proc.marker):
        with _gone():
            os.kill(pid, signal.SIGKILL)


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries ``VELORA_TEST_JOB=marker``."""
    found = []
    needle = f"VELORA_TEST_JOB={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class _gone:
    """Ignore "no such process" (it ended by itself meanwhile)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:
        return kind is ProcessLookupError


def stderr_so_far(proc) -> str:
    """What the job has printed on stderr so far."""
    handle = proc.files[1]
    return os.pread(handle.fileno(), 1 << 24, 0).decode("utf-8", "replace")


def wait_for(predicate, proc, timeout: float = 120.0, what: str = "the job to get going") -> None:
    """Poll ``predicate()`` until true; fail (ending the job) if the job ends or time runs out."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if proc.poll() is not None:
            job = finish(proc)
            pytest.fail(f"the job ended before {what}: {job.stderr[-2000:]}")
        if time.perf_counter() > deadline:
            end(proc)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def stray(folder: Path, expected: set[str]) -> set[str]:
    """Names in ``folder`` beyond ``expected`` (temporary files included)."""
    return {p.name for p in folder.iterdir()} - expected
