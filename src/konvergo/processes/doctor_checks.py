"""`konvergo doctor`: the "no black hole" invariant of running process instances."""

from __future__ import annotations

from konvergo.core.doctor import Finding, register_check
from konvergo.processes.selectors import instances_in_black_hole


@register_check("processes")
def check_black_holes() -> list[Finding]:
    offenders = list(instances_in_black_hole().select_related("definition")[:20])
    if not offenders:
        return [Finding("processes", True, "every running instance waits for something")]
    names = ", ".join(f"{i.definition.key}#{i.public_id}" for i in offenders)
    return [
        Finding(
            "processes", False, f"{len(offenders)} running instance(s) wait for nothing: {names}"
        )
    ]
