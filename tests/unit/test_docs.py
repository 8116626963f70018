"""The reference documents cover what the code has: every module in docs/architecture.md, every
server setting in docs/configuration.md."""

from __future__ import annotations

from pathlib import Path

from pangeo_hpc_ext.server.app import PangeoHPC

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pangeo_hpc_ext"


def product_modules() -> list[str]:
    return sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        # _version.py is written by the build, not kept in the repository.
        if path.name not in ("__init__.py", "__main__.py", "_version.py")
        and "labextension" not in path.relative_to(PACKAGE).parts
    )


def test_architecture_names_every_module() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    missing = [module for module in product_modules() if f"`{module}`" not in text]
    assert not missing, f"docs/architecture.md ('Every module') does not name: {missing}"


def test_architecture_names_no_module_that_is_gone() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Every module", 1)[1]
    named = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    gone = sorted(named - set(product_modules()))
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"


def test_configuration_covers_every_setting() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    settings = sorted(PangeoHPC.class_own_traits(config=True))
    missing = [name for name in settings if f"`c.PangeoHPC.{name}`" not in text]
    assert not missing, f"docs/configuration.md does not describe: {missing}"
