"""The package's one "not given" sentinel, for keywords where ``None`` is a value."""

from __future__ import annotations

from typing import Any

__all__ = ["FROM_PRESET"]


class _FromPreset:
    """The type of :data:`FROM_PRESET`."""

    def __repr__(self) -> str:
        return "FROM_PRESET"

    def __reduce__(self) -> str:
        return "FROM_PRESET"  # unpickles as the one instance


#: The default of a keyword whose value, when not given, is the preset's own (``build_qclip``'s
#: ``backbone_weights``, ``create_qclip_metric``'s): the one "not given" sentinel of the package,
#: since ``None`` is a value there (random weights).
FROM_PRESET: Any = _FromPreset()
