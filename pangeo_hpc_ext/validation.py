"""JSON Schema validation that names fields: unknown fields are malformed requests (400),
wrong values fail validation (422)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .errors import FieldError, InvalidOptions, InvalidRequest

# When a value has the wrong shape, the property's own hint reads better than jsonschema's text.
HINTED_KEYWORDS = frozenset({"pattern", "type", "format"})


def _field(path: list[Any], prefix: str) -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in path]
    return ".".join(parts)


def _unknown_fields(error: ValidationError) -> list[str]:
    instance, schema = error.instance, error.schema
    if not isinstance(instance, dict):
        return []
    known = set(schema.get("properties", {}))
    return sorted(k for k in instance if k not in known)


def _message(error: ValidationError) -> str:
    hint = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if hint and error.validator in HINTED_KEYWORDS:
        return str(hint)
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{error.instance!r} is not one of the allowed values: {allowed}"
    return error.message


def validate(document: Any, schema: dict[str, Any], *, prefix: str = "") -> None:
    validator = Draft202012Validator(schema)
    unknown: list[FieldError] = []
    invalid: list[FieldError] = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            for name in _unknown_fields(error):
                field = _field([*path, name], prefix)
                unknown.append(FieldError(field, f"unknown field {field!r}"))
        elif error.validator == "required":
            missing = str(error.message).split("'")[1] if "'" in error.message else ""
            field = _field([*path, missing], prefix)
            invalid.append(FieldError(field, f"{field} is required"))
        else:
            field = _field(path, prefix) or "body"
            invalid.append(FieldError(field, f"{field}: {_message(error)}"))
    if unknown:
        raise InvalidRequest("; ".join(e.message for e in unknown), unknown)
    if invalid:
        raise InvalidOptions("; ".join(e.message for e in invalid), invalid)
