"""One check's outcome and the table of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def render(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks) + 2
    lines = [f"{'CHECK':<{width}}RESULT  DETAIL"]
    for check in checks:
        lines.append(f"{check.name:<{width}}{'PASS' if check.ok else 'FAIL':<8}{check.detail}")
        if not check.ok and check.fix:
            lines.append(f"{'':<{width}}{'':<8}fix: {check.fix}")
    failed = sum(not check.ok for check in checks)
    lines.append("")
    lines.append(f"{len(checks)} checks, {failed} failed." if failed else "All checks passed.")
    return "\n".join(lines)
