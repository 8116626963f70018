"""The committed files made from the OpenAPI document of the app's routes: docs/openapi.json and
src/generated/rest-types.ts. `python -m pangeo_hpc_ext.server.openapi_files` prints the first;
with `--typescript`, the second. Unit tests fail when the committed files differ."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from .app import extension_routes
from .openapi import openapi_document
from .openapi_typescript import typescript


def source_version() -> str:
    """The version in package.json (the source of truth) of a source checkout; an unbuilt tree's
    __version__ is only a placeholder."""
    package_json = Path(__file__).resolve().parents[2] / "package.json"
    try:
        return str(json.loads(package_json.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return __version__


def document() -> dict[str, Any]:
    return openapi_document(version=source_version(), routes=extension_routes())


def render() -> str:
    """docs/openapi.json, as committed."""
    return json.dumps(document(), indent=2) + "\n"


def render_typescript() -> str:
    """src/generated/rest-types.ts, as committed."""
    return typescript(document())


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    """Prints docs/openapi.json; with --typescript, src/generated/rest-types.ts."""
    sys.stdout.write(render_typescript() if "--typescript" in argv else render())


if __name__ == "__main__":
    main()
