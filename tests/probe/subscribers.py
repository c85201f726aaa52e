"""The probe subscriber: records each `probe.*` event; can be told to stall mid-delivery.

When KONVERGO_PROBE_STALL_FILE names a file that does not exist yet, the subscriber writes its
record, creates the file (so a test knows delivery is under way) and sleeps, leaving the
transaction open for the test to SIGKILL the worker.
"""

import os
import time
import uuid
from pathlib import Path

from konvergo.core.events import EventMessage, subscribe
from konvergo.processes.registry import register_connector
from tests.probe.models import ProbeRecord


@subscribe("probe.recorder", events=["probe.*"])
def record(message: EventMessage) -> None:
    ProbeRecord.objects.create(event_id=message.id, name=message.name)
    stall_file = os.environ.get("KONVERGO_PROBE_STALL_FILE")
    if stall_file and not Path(stall_file).exists():
        Path(stall_file).write_text(str(os.getpid()))
        time.sleep(120)


@register_connector("probe.stall")
def stall_connector(inputs: dict[str, object]) -> dict[str, object]:
    """Records the call (inside the advance's transaction) and, like `record`, can stall."""
    ProbeRecord.objects.create(event_id=uuid.uuid4(), name=f"connector:{inputs.get('lead')}")
    stall_file = os.environ.get("KONVERGO_PROBE_STALL_FILE")
    if stall_file and not Path(stall_file).exists():
        Path(stall_file).write_text(str(os.getpid()))
        time.sleep(120)
    return {"called": True}
