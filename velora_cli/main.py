"""Entry point: the Typer app, global options and the error policy.

Bad input (a ``VeloraError`` or a usage error) exits 2 with one line on stderr; any other
exception is an internal fault and exits 1. ``--debug`` shows the traceback.
"""

import sys
import traceback
from importlib import import_module

import typer

from velora import __version__
from velora.errors import VeloraError
from velora_cli.console import err, fail_line

app = typer.Typer(
    name="velora",
    help="Build, inspect and run Liquid Neural Networks with NCP sparse wiring.",
    no_args_is_help=True,
    add_completion=False,
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
    for name in ("init", "validate", "wire", "run", "train", "export", "inspect"):
        module = import_module(f"velora_cli.commands.{name}")
        app.command(name)(getattr(module, name))


_register()


def main_exit_code(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code instead of exiting."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        app(args=argv, prog_name="velora")
    except SystemExit as exc:  # normal end, --help, and usage errors (code 2) all land here
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        fail_line("interrupted")
        return 130
    except VeloraError as exc:
        if debug:
            err.print(traceback.format_exc(), markup=False)
        fail_line(str(exc))
        return 2
    except Exception as exc:
        if debug:
            err.print(traceback.format_exc(), markup=False)
        fail_line(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main_exit_code())
