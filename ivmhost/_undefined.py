"""JavaScript's ``undefined`` on the Python side."""

from __future__ import annotations

from typing import Final, final

__all__ = ["UndefinedType", "undefined"]


@final
class UndefinedType:
    """The type of :data:`undefined`: a falsy singleton, distinct from ``None`` (JavaScript's null)."""

    _instance: UndefinedType | None = None

    def __new__(cls) -> UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"

    def __reduce__(self) -> str:
        return "undefined"


undefined: Final = UndefinedType()
