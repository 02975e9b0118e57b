"""One exception type for every user-facing failure: the CLI prints its message as one line."""

import sys


class RoparError(Exception):
    """A bad input or environment problem that the user can fix (bad file, bad prompt, ...)."""


class ModelError(RoparError):
    """A missing, corrupt or incompatible model directory / checkpoint."""


class MotionFileError(RoparError):
    """A motion or keypoint file that cannot be read (truncated, NaN, wrong layout, ...)."""


def cli_error(prog: str, message: object) -> int:
    """Print `prog: error: <message>` (an exception or a text) as one line on stderr; -> the exit status
    of a refused command (2)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
