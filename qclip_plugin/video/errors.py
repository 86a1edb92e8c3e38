"""The one exception raised for videos that cannot be read."""

from __future__ import annotations

import os

from qclip_plugin.errors import UserError

DEFAULT_HINT = (
    "check that the file exists and plays (e.g. `ffprobe FILE`); re-download it, "
    "or drop it from the dataset's label list"
)


class VideoReadError(UserError):
    """A video file could not be opened or decoded.

    Attributes:
        path: the file, as given.
        reason: what went wrong (missing, empty, truncated, corrupt, no decodable frame, ...).
        hint: what to do about it.
        kind: the reason's category, counted by summaries (``missing``, ``dangling link``,
            ``directory``, ``permission denied``, ``empty``, ``truncated``, ``damaged``, ...).
    """

    def __init__(self, path: str | os.PathLike, reason: str, hint: str | None = None, kind: str = "unreadable") -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.kind = kind
        self.hint = (hint or DEFAULT_HINT).replace("FILE", self.path)
        super().__init__(f"cannot read video {self.path!r}: {reason}; {self.hint}")

    def __reduce__(self):  # keep path/reason when raised in DataLoader worker processes
        return (type(self), (self.path, self.reason, self.hint, self.kind))
