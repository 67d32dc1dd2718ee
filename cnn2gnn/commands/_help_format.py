"""Help rendered the click way: flags show no value type, arguments show as upper-case names.

Typer's rich help labels every option with its type, so a flag such as ``--json`` reads ``<bool>`` as if
it took a value, and it wraps required arguments in braces (``{model}``). These classes give flags an
empty metavar and arguments an upper-case one (``MODEL``, ``[MODEL]`` when optional) before help, usage
or an error message is rendered.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup


def _click_style(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperArgument):
            param.metavar = (param.metavar or param.name).upper()
        elif getattr(param, "is_flag", False):
            param.metavar = ""
    return params


def _usage_pieces(command: Any, ctx: typer.Context) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            piece = param.metavar if param.required else f"[{param.metavar}]"
            pieces.append(piece + "..." if getattr(param, "nargs", 1) == -1 else piece)
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


class HelpCommand(TyperCommand):
    """A command whose help shows flags without a type and arguments as ``NAME``."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        return _click_style(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return _usage_pieces(self, ctx)


class HelpGroup(TyperGroup):
    """The root app, with the same help rendering as :class:`HelpCommand` (``--version``, ``--help``)."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        return _click_style(super().get_params(ctx))
