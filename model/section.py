"""The base of every parameter section (SPEC 10): closed, frozen, and strict about kinds.

Pydantic's lax mode reads ``"yes"``, ``"on"`` or ``1`` as true and ``true`` or ``"3"`` as
numbers, so ``controller.enabled=yes`` used to pass silently. A section here accepts only
``true``/``false`` for a switch and only numbers (never booleans or text) for a number;
everything else keeps pydantic's checks (ranges, choices, whole numbers).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Section(BaseModel):
    """A parameter section: unknown keys refused, values frozen, kinds checked strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_kinds(cls, value: Any, info: ValidationInfo) -> Any:
        kind = cls.model_fields[info.field_name].annotation if info.field_name else None
        if kind in (bool, "bool") and not isinstance(value, bool):
            raise ValueError("must be true or false (not text or a number)")
        if kind in (int, float, "int", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a number (not text, true or false)")
        return value
