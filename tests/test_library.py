"""The process library shipped with Konvergo runs as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from konvergo.processes.selectors import instances_in_black_hole
from konvergo.processes.services import LIVE, definition_deploy, process_start

LIBRARY = Path(__file__).resolve().parent.parent / "src" / "konvergo" / "processes" / "library"
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "discount", "approval", "first_task"),
    [
        (5000, 5, "none", "send_quote"),
        (5000, 15, "head_of_sales", "approve_head"),
        (50000, 0, "head_of_sales", "approve_head"),
        (250000, 0, "director", "approve_director"),
    ],
)
def test_quote_approval_asks_the_approver_the_decision_table_names(
    amount: int, discount: int, approval: str, first_task: str
) -> None:
    LIVE.clear()
    definition_deploy(
        xml=(LIBRARY / "quote_approval.bpmn").read_bytes(),
        dmn=[(LIBRARY / "quote_approval.dmn").read_bytes()],
    )

    instance = process_start(
        "quote_approval",
        variables={
            "amount": amount,
            "discount": discount,
            "owner": "",
            "head_of_sales": "",
            "director": "",
        },
    )

    assert instance.variables["approval"] == approval
    assert list(instance.tasks.values_list("element_id", flat=True)) == [first_task]
    assert list(instances_in_black_hole()) == []
