"""User-facing errors: the CLI prints these as one line (no traceback) and exits non-zero."""


class CenterNetError(Exception):
    """Base class for errors caused by the user's input (files, data, checkpoints, options)."""


class DataError(CenterNetError):
    """Bad dataset input: unreadable annotations, missing or corrupt images, bad boxes, unknown categories."""


class CheckpointError(CenterNetError):
    """A missing, unreadable, unsafe or mismatched checkpoint."""
