"""The demo company. Each app adds its part with `register_demo_step`; steps run in order."""

from __future__ import annotations

from collections.abc import Callable

# The demo creates this calendar first; its presence means the demo is loaded.
DEMO_MARKER_CALENDAR = "Berlin office"

DemoStep = Callable[[Callable[[str], None]], None]
_steps: list[tuple[int, str, DemoStep]] = []


def register_demo_step(order: int, name: str) -> Callable[[DemoStep], DemoStep]:
    def register(fn: DemoStep) -> DemoStep:
        _steps[:] = [s for s in _steps if s[1] != name]
        _steps.append((order, name, fn))
        _steps.sort(key=lambda step: step[0])
        return fn

    return register


def demo_steps() -> list[tuple[int, str, DemoStep]]:
    return list(_steps)
