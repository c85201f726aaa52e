"""Jobs the benchmarks enqueue; importable by the worker as `bench_tasks.*`."""

from django_tasks import task


@task()
def noop(n: int) -> int:
    return n
