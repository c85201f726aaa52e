"""Test a draft before deploying it: run it in memory, step by step, with dry-run connectors.

Nothing is written to the processes tables and no connector runs: each call is recorded (and
answered with an empty result) so the designer sees what would have been sent. The run's
engine state lives in the user's session between steps, never in a place others read.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableMapping
from typing import Any

from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, Conflict
from konvergo.designer.validation import process_info, read_xml
from konvergo.processes.engine.errors import DeployError, TaskNotOpen
from konvergo.processes.engine.parser import parse_bpmn
from konvergo.processes.engine.runtime import CompiledProcess, Runner, Snapshot
from konvergo.processes.services import check_json

logger = logging.getLogger(__name__)
MAX_SANDBOX_BYTES = 1024 * 1024
MAX_RUNS = 5  # per session: older runs are dropped
SESSION_KEY = "designer_sandbox"


class SandboxRefused(BusinessError):
    status = 422
    code = "invalid_model"


class DryRun:
    """A connector caller that records calls instead of making them."""

    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = calls

    def __call__(self, name: str, inputs: dict[str, Any], element_id: str) -> dict[str, Any]:
        self.calls.append({"connector": name, "element_id": element_id, "inputs": _safe(inputs)})
        return {}


def _safe(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_json(data)
    except BusinessError:
        return {key: repr(value) for key, value in data.items()}


def _compile(bpmn_xml: str, dmn: list[str]) -> CompiledProcess:
    if len(bpmn_xml.encode()) > MAX_SANDBOX_BYTES:
        raise SandboxRefused(_("The sandbox runs diagrams up to 1 MB."))
    root = read_xml(bpmn_xml)
    key, _name = process_info(root)
    try:
        model = parse_bpmn(bpmn_xml.encode(), dmn=[d.encode() for d in dmn])
    except DeployError as exc:
        raise SandboxRefused(exc.message, details={"element_id": exc.element_id}) from None
    process_id = key if key in model.process_ids else model.process_ids[0]
    return CompiledProcess.from_model(model, process_id)


def _runs(session: MutableMapping[str, Any]) -> dict[str, Any]:
    runs: dict[str, Any] = session.get(SESSION_KEY) or {}
    return runs


def _view(run_id: str, run: dict[str, Any], snapshot: Snapshot) -> dict[str, Any]:
    for step in snapshot.steps:
        run["path"].append({"element_id": step.element_id, "name": step.name, "kind": step.kind})
    return {
        "run_id": run_id,
        "completed": snapshot.completed,
        "path": run["path"],
        "open_tasks": [
            {
                "task_id": t.task_id,
                "element_id": t.element_id,
                "name": t.name,
                "form_key": str(t.extensions.get("camunda:formKey", "")),
            }
            for t in snapshot.open_tasks
        ],
        "timers": [
            {"task_id": t.task_id, "element_id": t.element_id, "due_at": t.due_at.isoformat()}
            for t in snapshot.timers
        ],
        "messages": [
            {"element_id": m.element_id, "name": m.name, "kind": m.kind}
            for m in snapshot.subscriptions
        ],
        "failures": [{"element_id": f.element_id, "message": f.message} for f in snapshot.failures],
        "variables": snapshot.variables,
        "calls": run["calls"],
    }


def _store(session: MutableMapping[str, Any], run_id: str, run: dict[str, Any]) -> None:
    runs = _runs(session)
    runs.pop(run_id, None)
    runs[run_id] = run
    while len(runs) > MAX_RUNS:
        runs.pop(next(iter(runs)))
    session[SESSION_KEY] = runs


def start(
    session: MutableMapping[str, Any],
    *,
    bpmn_xml: str,
    dmn: dict[str, str],
    variables: dict[str, Any],
) -> dict[str, Any]:
    """Start a sandbox run of the given files with sample variables; returns what it did."""
    data = check_json(variables)
    compiled = _compile(bpmn_xml, list(dmn.values()))
    run: dict[str, Any] = {
        "bpmn_xml": bpmn_xml,
        "dmn": list(dmn.values()),
        "path": [],
        "calls": [],
    }
    runner = Runner(compiled, connectors=DryRun(run["calls"]))
    try:
        snapshot = runner.start(data)
    except Exception as exc:  # a draft under test: show what failed, never a 500
        logger.warning("a sandbox run failed to start", exc_info=True)
        raise SandboxRefused(_("The test run stopped: %(error)s") % {"error": exc}) from None
    run["state"] = snapshot.state
    run_id = uuid.uuid4().hex
    view = _view(run_id, run, snapshot)
    _store(session, run_id, run)
    return view


def step(
    session: MutableMapping[str, Any],
    run_id: str,
    *,
    action: str,
    task_id: str = "",
    variables: dict[str, Any] | None = None,
    message: str = "",
) -> dict[str, Any]:
    """One step of a run: complete a user task, fire the waiting timers, or send a message
    or signal."""
    run = _runs(session).get(run_id)
    if run is None:
        raise Conflict(_("This sandbox run has ended; start it again."))
    data = check_json(variables)
    compiled = _compile(run["bpmn_xml"], run["dmn"])
    runner = Runner(compiled, state=run["state"], connectors=DryRun(run["calls"]))
    try:
        if action == "complete":
            snapshot = runner.complete_task(task_id, data)
        elif action == "fire_timers":
            waiting = [t.task_id for t in runner.snapshot().timers]
            snapshot = runner.fire_timers(waiting)
        elif action in ("message", "signal"):
            _matched, snapshot = runner.correlate(message, data, signal=action == "signal")
        else:
            raise BusinessError(
                _("Unknown sandbox action %(action)s.") % {"action": action},
                details={"field": "action"},
            )
    except TaskNotOpen:
        raise Conflict(_("This task is not waiting any more.")) from None
    except BusinessError:
        raise
    except Exception as exc:  # a draft under test: show what failed, never a 500
        logger.warning("a sandbox step failed", exc_info=True)
        raise SandboxRefused(_("The test run stopped: %(error)s") % {"error": exc}) from None
    run["state"] = snapshot.state
    view = _view(run_id, run, snapshot)
    _store(session, run_id, run)
    return view
