"""One check's outcome and the table of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # Worth doing but needed by nothing: shown as ADVICE with its fix, never a failure.
    advice: bool = False

    @property
    def result(self) -> str:
        return "FAIL" if not self.ok else "ADVICE" if self.advice else "PASS"


def render(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks) + 2
    lines = [f"{'CHECK':<{width}}RESULT  DETAIL"]
    for check in checks:
        lines.append(f"{check.name:<{width}}{check.result:<8}{check.detail}")
        if (not check.ok or check.advice) and check.fix:
            lines.append(f"{'':<{width}}{'':<8}fix: {check.fix}")
    failed = sum(not check.ok for check in checks)
    lines.append("")
    lines.append(f"{len(checks)} checks, {failed} failed." if failed else "All checks passed.")
    return "\n".join(lines)
