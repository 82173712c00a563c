"""Turn pydantic validation errors into located Problems users can act on."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.errors import Problem
from monitor.yamlsrc import Located, PathKey

M = TypeVar("M", bound=BaseModel)


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """Return a "did you mean 'x'?" hint, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _model_at(model: type[BaseModel], path: PathKey) -> type[BaseModel] | None:
    """Find the model class that validates the mapping at ``path`` below ``model``."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
            continue
        origin = typing.get_origin(current)
        if origin in (list, tuple, dict):
            args = typing.get_args(current)
            current = args[-1] if args else Any
            continue
        return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) in (list, dict, tuple):
                return arg
    return annotation


def allowed_keys(model: type[BaseModel]) -> list[str]:
    return [name for name, info in model.model_fields.items() if not info.exclude]


def validate(
    model: type[M], data: Any, located: Located, base: PathKey = ()
) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` against ``model``; every error becomes a located Problem."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, problems_from(exc, model, located, base)


def problems_from(
    exc: ValidationError, model: type[BaseModel], located: Located, base: PathKey = ()
) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False, include_input=True):
        loc = tuple(part for part in err["loc"] if not _is_internal(part))
        path: PathKey = (*base, *loc)
        kind = err["type"]
        if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
            parent = _model_at(model, loc[:-1])
            keys = allowed_keys(parent) if parent else []
            message = f"unknown key '{loc[-1]}'"
            if keys:
                message += f" (allowed: {', '.join(keys)})"
            hint = did_you_mean(loc[-1], keys)
            problems.append(located.problem(path, message, key=True, hint=hint))
        elif kind == "missing" and loc:
            problems.append(located.problem(path[:-1], f"missing required key '{loc[-1]}'"))
        else:
            message = str(err["msg"])
            for prefix in ("Value error, ", "Assertion failed, "):
                message = message.removeprefix(prefix)
            value = err.get("input")
            # Only choices echo the value: other inputs may hold substituted secrets.
            if kind in ("enum", "literal_error") and isinstance(value, str) and len(value) < 80:
                message += f", got '{value}'"
            problems.append(located.problem(path, message))
    return problems


def _is_internal(part: str | int) -> bool:
    """Pydantic adds union member names such as ``function-after[...]`` to locations."""
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "list", "dict"})
