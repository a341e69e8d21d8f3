"""JSON as a type: what a JSON document holds once parsed (a request body, a JSON column, a task's
arguments). Code that reads into one narrows it with isinstance, as it must for a client's value.
It is pydantic's JsonValue, so a model field of this type would validate as JSON."""

from __future__ import annotations

from typing import TypeAlias

from pydantic import JsonValue

Json: TypeAlias = JsonValue
JsonObject: TypeAlias = dict[str, JsonValue]
