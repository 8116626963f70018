"""JSON Schema validation that names fields: unknown fields are malformed requests (400),
wrong values fail validation (422)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from ..errors import FieldError, InvalidOptions, InvalidRequest
from ..script_safety import shorten

# When a value has the wrong shape, the property's own hint reads better than jsonschema's text.
HINTED_KEYWORDS = frozenset({"pattern", "type", "format"})


def _is_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 1.0 as an integer; Python code downstream (range(), --nthreads) does not.
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


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
        allowed = ", ".join(shorten(v) for v in error.validator_value)
        return f"{shorten(error.instance)} is not one of the allowed values: {allowed}"
    if error.validator == "type":
        return f"{shorten(error.instance)} is not of type {error.validator_value!r}"
    # jsonschema's own messages quote the whole value, which may be megabytes long.
    return error.message.replace(repr(error.instance), shorten(error.instance))


def validate(document: Any, schema: dict[str, Any], *, prefix: str = "") -> None:
    validator = StrictValidator(schema)
    unknown: list[FieldError] = []
    invalid: list[FieldError] = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            for name in _unknown_fields(error):
                field = _field([*path, shorten(name)[1:-1]], prefix)
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
