from django_tasks import task

RUNS: list[str] = []


class Boom(Exception):
    pass


@task()
def record_run(label: str) -> None:
    RUNS.append(label)


@task()
def always_fails() -> None:
    raise Boom("the printer is on fire")
