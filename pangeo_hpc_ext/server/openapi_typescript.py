"""TypeScript types of the REST bodies, written from the OpenAPI document's component schemas:
src/generated/rest-types.ts is this output (`python -m pangeo_hpc_ext.server.openapi_files
--typescript`), so that the frontend's types cannot drift from what the server validates.

Covers the JSON Schema the components use (type or type lists, enum, const, properties with
required, arrays, $ref, and a component nested by identity becomes its name); a keyword outside
that set fails here instead of becoming a wrong type. The output is what prettier would write."""

from __future__ import annotations

import json
import textwrap
from typing import Any

Schema = dict[str, Any]

HEADER = """\
// Generated from the OpenAPI document by
// `python -m pangeo_hpc_ext.server.openapi_files --typescript`: do not edit.
// tests/unit/test_openapi.py fails when this file differs from that output.
"""
WIDTH = 80
PRIMITIVES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
# Keywords that constrain values but not their TypeScript type.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "additionalProperties",
        "required",
        "properties",
        "items",
        "type",
        "enum",
        "const",
        "$ref",
    }
)


class Unsupported(ValueError):
    """A schema keyword this writer does not turn into a type."""


def literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(value)


class Writer:
    def __init__(self, components: dict[str, Schema]) -> None:
        self.components = components
        # The frontend's convention (api.ts): interfaces are named I<Name>.
        self.names = {id(schema): f"I{name}" for name, schema in components.items()}

    def module(self) -> str:
        blocks = [self.declaration(name, schema) for name, schema in self.components.items()]
        return HEADER + "\n" + "\n\n".join(blocks) + "\n"

    def declaration(self, name: str, schema: Schema) -> str:
        comment = self.comment(schema, "")
        if "object" in self.kinds(schema) and "properties" in schema:
            # A nullable object is the interface; its uses say `| null` (see type()).
            return f"{comment}export interface {self.names[id(schema)]} {self.object(schema, '')}"
        raise Unsupported(f"component {name} is not an object with properties")

    @staticmethod
    def kinds(schema: Schema) -> list[str]:
        kinds = schema.get("type", [])
        return [kinds] if isinstance(kinds, str) else list(kinds)

    def type(self, schema: Schema, indent: str) -> str:
        unknown = set(schema) - ANNOTATIONS
        if unknown:
            raise Unsupported(f"schema keywords {sorted(unknown)}")
        if id(schema) in self.names:
            nullable = "null" in self.kinds(schema)
            return self.names[id(schema)] + (" | null" if nullable else "")
        if "$ref" in schema:
            return "I" + schema["$ref"].rsplit("/", 1)[1]
        if "const" in schema:
            return literal(schema["const"])
        if "enum" in schema:
            return " | ".join(literal(v) for v in schema["enum"])
        kinds = self.kinds(schema)
        if not kinds:
            return "unknown"
        return " | ".join(self.kind(kind, schema, indent) for kind in kinds)

    def kind(self, kind: str, schema: Schema, indent: str) -> str:
        if kind in PRIMITIVES:
            return PRIMITIVES[kind]
        if kind == "null":
            return "null"
        if kind == "array":
            item = self.type(schema.get("items", {}), indent)
            return f"({item})[]" if " | " in item else f"{item}[]"
        if kind == "object":
            if "properties" in schema:
                return self.object(schema, indent)
            return "Record<string, unknown>"
        raise Unsupported(f"type {kind!r}")

    def object(self, schema: Schema, indent: str) -> str:
        inner = indent + "  "
        required = set(schema.get("required", []))
        lines = ["{"]
        for name, prop in schema["properties"].items():
            optional = "" if name in required else "?"
            head = f"{inner}{name}{optional}:"
            value = self.type(prop, inner)
            lines.append(self.comment(prop, inner) + self.property(head, value, inner))
        lines.append(indent + "}")
        return "\n".join(lines)

    def property(self, head: str, value: str, indent: str) -> str:
        line = f"{head} {value};"
        if len(line) <= WIDTH or "\n" in value or " | " not in value:
            return line
        # A union past prettier's width: one member a line, as prettier writes it.
        members = "".join(f"\n{indent}  | {member}" for member in value.split(" | "))
        return f"{head}{members};"

    def comment(self, schema: Schema, indent: str) -> str:
        text = " ".join(str(schema.get(key, "")) for key in ("description",)).strip()
        if not text:
            return ""
        text = text.replace("*/", "*\\/")
        width = WIDTH - len(indent) - 3
        lines = textwrap.wrap(text, width=width, break_on_hyphens=False)
        if len(lines) == 1 and len(lines[0]) + len(indent) + 7 <= WIDTH:
            return f"{indent}/** {lines[0]} */\n"
        body = "".join(f"{indent} * {line}\n" for line in lines)
        return f"{indent}/**\n{body}{indent} */\n"


def typescript(document: dict[str, Any]) -> str:
    """The module of TypeScript types of the document's component schemas."""
    return Writer(document["components"]["schemas"]).module()
