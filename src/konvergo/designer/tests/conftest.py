"""The designer's test scene: a designer, a monitor, a user with no rights, small diagrams."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.test import Client

from konvergo.org.models import Scope, User
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.services import LIVE

_roles = itertools.count(1)
DESIGN = [f"designer.{a}_processdraft" for a in ("view", "add", "change")]
MONITOR = [
    "processes.view_processdefinition",
    "processes.view_processinstance",
    "processes.add_processinstance",
    "processes.change_processinstance",
    "processes.view_incident",
    "processes.change_incident",
]


def grant(user: User, *permissions: str) -> User:
    role = role_create(
        name=f"designer role {next(_roles)}", scope=Scope.ALL, permissions=permissions
    )
    user.roles.add(role)
    return User.objects.get(pk=user.pk)


@pytest.fixture(autouse=True)
def _fresh_engine_cache() -> None:
    LIVE.clear()


@pytest.fixture
def designer(db: Any) -> User:
    return grant(UserFactory.create(username="designer"), *DESIGN, *MONITOR)


@pytest.fixture
def outsider(db: Any) -> User:
    return UserFactory.create(username="outsider")


@pytest.fixture
def designer_client(designer: User) -> Client:
    client = Client()
    client.force_login(designer)
    return client


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" '
    'targetNamespace="https://konvergo.example/test">'
    '<bpmn:process id="{pid}" name="{name}" isExecutable="true">'
)
TAIL = "</bpmn:process></bpmn:definitions>"


def bpmn(body: str, pid: str = "small", name: str = "Small process") -> str:
    return HEAD.format(pid=pid, name=name) + body + TAIL


# start -> "Review" (user task, assignee from a variable) -> end
VALID_BODY = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="review" name="Review" camunda:assignee="${reviewer}"/>'
    '<bpmn:endEvent id="done"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>'
)
VALID = bpmn(VALID_BODY)
