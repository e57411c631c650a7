"""Entry point: the Typer app, global options and the error policy.

Bad input (a ``VeloraError`` or a usage error) exits 2 with one line on stderr; any other
exception is an internal fault and exits 1. ``--debug`` shows the traceback. Under torchrun one
process reports each error: the others end with ``PeerFailure``, silently.
"""

import contextlib
import gc
import signal
import sys
import traceback
from collections.abc import Iterator
from importlib import import_module

import typer

from velora import __version__
from velora.distributed import PeerFailure, is_main_process
from velora.errors import VeloraError
from velora.files.sources import stream_scope
from velora_cli.console import err, fail_line, show_library_notes
from velora_cli.usage import VeloraCommand, VeloraGroup

# What to do about an error, by the library parameter it names (``VeloraError.parameter``).
HINTS = {
    "force": "use --force to overwrite",
    "allow_nan": "use --allow-nan",
    "max_memory": "raise it with --max-memory",
    "columns": "choose them with --columns",
}


def error_line(exc: VeloraError) -> str:
    """The one line shown for a bad-input error: its message and, where a flag would accept
    the input, a hint naming that flag."""
    message = str(exc)
    parameter = getattr(exc, "parameter", None)
    if parameter is None:
        return message
    flag = "--" + parameter.replace("_", "-")
    if message.startswith(f"{parameter}: "):  # the value of that argument itself is bad
        return flag + message[len(parameter) :]
    return f"{message} ({HINTS.get(parameter, f'see {flag}')})"


app = typer.Typer(
    name="velora",
    help="Build, inspect and run Liquid Neural Networks with NCP sparse wiring.",
    no_args_is_help=True,
    cls=VeloraGroup,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"velora {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Build, inspect and run Liquid Neural Networks with NCP sparse wiring."""


def _register() -> None:
    """Add every subcommand; modules import torch lazily so ``--help`` stays fast."""
    # In the order of a user's workflow, which is the order --help lists them in.
    for name in [
        "init",
        "validate",
        "wire",
        "run",
        "train",
        "eval",
        "prune",
        "export",
        "inspect",
        "warmup",
    ]:
        module = import_module(f"velora_cli.commands.{name}")
        app.command(name, cls=VeloraCommand)(getattr(module, name))


_register()


def main_exit_code(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code instead of exiting."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    show_library_notes(True)  # commands with --quiet turn the notes off
    try:
        with stream_scope():  # each command claims its own streams
            code = app(args=argv, prog_name="velora", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except typer.TyperException as exc:  # a bad option or argument: one line, exit 2
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "velora"
        fail_line(f"{exc.format_message()} (see '{command} --help')")
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        if is_main_process():  # under torchrun, rank 0 alone says so
            fail_line("interrupted")
        return 130
    except PeerFailure as exc:  # another process of a torchrun job reports the error
        if debug:
            err.print(traceback.format_exc(), markup=False)
        return exc.code
    except VeloraError as exc:
        if debug:
            err.print(traceback.format_exc(), markup=False)
        fail_line(error_line(exc))
        return 2
    except Exception as exc:
        if debug:
            err.print(traceback.format_exc(), markup=False)
        fail_line(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return 1
    return code if isinstance(code, int) else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: ends a command exactly like Ctrl-C (temporary files removed, training
    keeps its best epoch), then exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def ending_signals() -> Iterator[list[int]]:
    """Within the block, SIGTERM and SIGHUP raise ``Terminated``; yields the signals received."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# Container allocations between the garbage collector's youngest-generation passes in a CLI
# process (Python's default is 700). Start-up imports (numba, torch, pyarrow) create hundreds of
# thousands of long-lived objects, and the default rescans them again and again: about 0.1 s of
# a short command. Cycles are still collected, in larger batches.
GC_THRESHOLD = 100_000


def run() -> None:
    """Console-script entry point."""
    gc.set_threshold(GC_THRESHOLD)
    with ending_signals() as received:
        code = main_exit_code()
    if received and code == 130:  # ended like Ctrl-C, by a signal
        code = 128 + received[0]
    # Every output is closed by now. Spare the interpreter's last garbage collections over the
    # hundreds of thousands of objects numba, torch and pyarrow created: a quarter to a third
    # of a second of a short command. Objects still die by reference count as modules go.
    gc.freeze()
    sys.exit(code)
