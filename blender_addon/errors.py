"""The add-on's user-facing failures. Each carries a one-line message that the panel shows in the status
line, operators pass to `report({'ERROR'}, ...)` and `batch.py` prints before exiting non-zero."""


class RoparAddonError(Exception):
    """Something the user can fix: a bad rig, an unreachable server, a bad prompt file, ..."""


class RigError(RoparAddonError):
    """The armature cannot be driven: missing bones, unknown preset, degenerate rest pose."""


class BackendError(RoparAddonError):
    """Generation failed: server unreachable or returned an error, model missing, bad response."""


class CancelledError(RoparAddonError):
    """The user pressed Cancel while a generation was running."""
