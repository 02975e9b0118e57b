"""One exception type for every user-facing failure: the CLI prints its message as one line."""


class RoparError(Exception):
    """A bad input or environment problem that the user can fix (bad file, bad prompt, ...)."""


class ModelError(RoparError):
    """A missing, corrupt or incompatible model directory / checkpoint."""


class MotionFileError(RoparError):
    """A motion or keypoint file that cannot be read (truncated, NaN, wrong layout, ...)."""
