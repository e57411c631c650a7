"""How ``--help`` names things: arguments in capitals, flags without a type.

Typer writes a required argument as ``{model}`` in the usage line and shows ``<bool>`` beside
every flag (``--force``, ``--help``, ``--show-completion``), which take no value. Every velora
command and the top-level group use these classes (Typer's public ``cls=`` option), so the usage
line reads ``velora wire [OPTIONS] MODEL`` and a flag's type column stays empty.
"""

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def argument_usage(param: TyperArgument) -> str:
    """An argument as a usage line shows it: ``MODEL``, ``[PATH]`` when optional, ``...`` when
    it takes several values."""
    name = param.metavar or (param.name or "").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


def without_flag_types(params: list) -> list:
    """The parameters, with an empty metavar on each flag that has none: a flag takes no value,
    so its help line shows no type (Typer's own ``--help`` and completion options included)."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class VeloraCommand(TyperCommand):
    """A command whose help reads ``velora wire [OPTIONS] MODEL`` and shows no type by a flag."""

    def get_params(self, ctx):
        return without_flag_types(super().get_params(ctx))

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(argument_usage(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class VeloraGroup(TyperGroup):
    """The top-level ``velora`` group: no type by its flags (``--version``, ``--help``, ...)."""

    def get_params(self, ctx):
        return without_flag_types(super().get_params(ctx))
