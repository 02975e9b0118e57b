"""The `ropar` command line. Each sub-command lives in `ropar_core.commands.<name>` and exposes
`add_parser(subparsers)` and `run(args) -> int`; this module only wires them together and turns every
`RoparError` (and other expected failures) into one clear line on stderr with a non-zero exit."""

from __future__ import annotations

import argparse
import importlib
import sys

from ropar_core.errors import RoparError, cli_error

# Sub-commands in help order; each is imported lazily so `ropar convert` never loads torch.
COMMANDS = ("generate", "convert", "reconstruct", "credibility", "video", "serve", "info")
# Commands that live outside ropar_core (`ropar finetune` is in training/, which imports ropar_core, never
# the reverse) register a module with add_parser/run under this entry-point group in their pyproject.
PLUGIN_GROUP = "ropar.commands"


def plugin_commands() -> dict[str, str]:
    """Installed plugin commands: name -> module path."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP) if ep.name not in COMMANDS}


class OneLineParser(argparse.ArgumentParser):
    """argparse whose refusals are one line (`ropar generate: error: ...`) and exit 2, like every other
    error of the command line, instead of the whole usage block first. Sub-parsers are of this class
    too (add_subparsers copies it)."""

    def error(self, message: str):
        hint = f" (see {self.prog} --help)"
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}{hint}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every sub-command, or with `only` that one: `ropar generate ...` then imports
    neither the server nor the keypoint readers nor scipy (start-up is paid on every call)."""
    parser = OneLineParser(
        prog="ropar", description="RoPAR text-to-motion: generate, convert, inspect and serve motions."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    plugins = {} if only in COMMANDS else plugin_commands()  # reading installed metadata costs start-up time
    names = (only,) if only in COMMANDS or only in plugins else COMMANDS + tuple(plugins)
    for name in names:
        module_name = plugins.get(name, f"ropar_core.commands.{name}")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a missing dependency inside the command is a real error
                raise
            continue  # that command is not written yet
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)  # the first word names the command
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OSError as exc:  # e.g. an output folder one may not write to, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        return cli_error(f"ropar {args.command}", f"{where}{exc.strerror or exc}")
    except (RoparError, ValueError) as exc:
        return cli_error(f"ropar {args.command}", exc)
    except KeyboardInterrupt:
        print(f"ropar {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
