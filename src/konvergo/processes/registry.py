"""Connectors: named handlers that service tasks call. Business apps register theirs from
`AppConfig.ready()` (`processes` never imports a business app).

A handler returns its outputs, or raises `BpmnError(code, message, variables)` to throw a BPMN
error: the error boundary event for that code on the service task (or on a sub-process around
it) takes over, with `variables` on its path. Any other exception is an incident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from konvergo.processes.engine.errors import BpmnError

__all__ = ["BpmnError", "Connector", "call_connector", "connector_names", "register_connector"]

ConnectorHandler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Connector:
    name: str
    handler: ConnectorHandler
    description: str = ""


_connectors: dict[str, Connector] = {}


def register_connector(
    name: str, *, description: str = ""
) -> Callable[[ConnectorHandler], ConnectorHandler]:
    """Register `handler(inputs) -> outputs` as the connector `name` (e.g. "crm.deal_set_stage")."""

    def register(handler: ConnectorHandler) -> ConnectorHandler:
        _connectors[name] = Connector(name=name, handler=handler, description=description)
        return handler

    return register


def connector_names() -> set[str]:
    return set(_connectors)


def call_connector(name: str, inputs: dict[str, Any], element_id: str) -> dict[str, Any]:
    connector = _connectors.get(name)
    if connector is None:
        raise LookupError(f"no connector named {name!r} is registered")
    outputs = connector.handler(dict(inputs))
    if outputs is None:
        return {}
    if not isinstance(outputs, dict):
        raise TypeError(f"connector {name!r} returned {type(outputs).__name__}, not a dict")
    return outputs


@register_connector("konvergo.echo", description="Returns its inputs (for testing models).")
def echo(inputs: dict[str, Any]) -> dict[str, Any]:
    return inputs
