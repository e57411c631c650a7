"""`velora warmup`: compile every CPU loop now, so that no later command waits for a compiler."""

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from velora_cli.console import count, err, out, show_library_notes


def warmup(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing (errors still show).")
    ] = False,
) -> None:
    """Compile velora's CPU loops and cache them on disk: run once after installing.

    The loops that read CSV, run networks and train them are compiled on first use, which takes
    seconds; after this, every command loads them from numba's cache instead. When they are
    cached already, it only loads them.
    """
    from velora.warmup import compile_all

    show_library_notes(False)  # the table below says what was compiled
    if quiet or not err.is_terminal:
        result = compile_all()
    else:
        with err.status("compiling velora's CPU loops (once per installation)…"):
            result = compile_all()
    if quiet:
        return
    table = Table(title="Compiled loops", title_justify="left", box=box.SIMPLE_HEAD)
    for column, justify in (("step", "left"), ("loops", "left"), ("", "left"), ("time", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for step in result.steps:
        compiled = sum(loop.compiled for loop in step.loops)
        what = "compiled" if compiled else "loaded from the cache"
        if compiled and compiled < sum(loop.compiled + loop.loaded for loop in step.loops):
            what = "compiled in part"
        names = ", ".join(loop.name for loop in step.loops)
        table.add_row(step.name, names, what, f"{step.seconds:.1f} s")
    out.print(table)
    where = f" in {result.cache_dir}" if result.cache_dir is not None else ""
    out.print(
        f"{count(result.compiled, 'loop')} compiled, {result.loaded} loaded from the cache"
        f"{where} ({result.seconds:.1f} s)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
