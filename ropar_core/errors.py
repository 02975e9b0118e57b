"""One exception type for every user-facing failure: the CLI prints its message as one line."""


class RoparError(Exception):
    """A bad input or environment problem that the user can fix (bad file, bad prompt, ...)."""


class ModelError(RoparError):
    """A missing, corrupt or incompatible model directory / checkpoint."""


class MotionFileError(RoparError):
    """A motion or keypoint file that cannot be read (truncated, NaN, wrong layout, ...)."""


def cli_error(prog: str, exc: Exception) -> int:
    """Print `prog: error: <message>` as one line on stderr; -> the exit status of a refused command (2)."""
    import sys

    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 2
