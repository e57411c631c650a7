"""`velora init`: write a commented starter spec."""

import shlex
from pathlib import Path
from typing import Annotated

import typer

from velora_cli.console import note


def init(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="Where to write the spec.", show_default=True)
    ] = Path("network.yaml"),
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="The spec's name (default: the file name without suffix).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter spec (default network.yaml) to edit and build on."""
    from velora.errors import VeloraError
    from velora.files.atomic import atomic_write
    from velora.spec import parse_spec, starter_spec

    if path.is_dir():
        raise VeloraError(f"{path}: is a folder; give a file name such as {path / 'network.yaml'}")
    text = starter_spec(name or path.stem)
    parse_spec(text, source=str(path))  # the starter must always be a valid spec
    with atomic_write(path, force=force, mode="w") as handle:
        handle.write(text)
    note(f"wrote {path}")
    # One command a line, never wrapped, the path quoted if it needs it: ready to copy.
    shown = shlex.quote(str(path))
    note("next:")
    note(f"  velora validate {shown}")
    note(f"  velora wire {shown} --plot wiring.png")
