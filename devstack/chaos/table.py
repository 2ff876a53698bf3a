"""The fault matrix's report as a markdown table (the README's "Fault matrix")."""

from __future__ import annotations

from typing import Any


def markdown(result: dict[str, Any]) -> str:
    """One line per cell, then the summary."""
    lines = [
        "| hop | fault | files | lost | duplicated | wrong | seconds to recover |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["cells"]:
        seconds = "—" if r["seconds_to_recover"] is None else f"{r['seconds_to_recover']:.1f}"
        lines.append(
            f"| {r['hop']} | {r['fault']} | {r['files']} | {r['lost']} | {r['duplicated']} "
            f"| {r['wrong']} | {seconds} |"
        )
    return "\n".join(lines) + f"\n\n{result['summary']}\n"
