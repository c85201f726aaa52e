"""Checking the rows of a large sheet in a second process while this one writes.

Checking a row (`Importer.parse`: e-mail, E.164 phone, names, amounts, dates) is pure Python
and needs no database, and it takes about as long as writing the row. For sheets of
`PARALLEL_ROWS` rows or more, a helper process (started fresh, "spawn": no inherited database
connections or threads) checks the chunks ahead of the one being written and sends the checked
rows back. Matching against the directory and writing stay here, chunk after chunk, so results
do not change: the checked rows are the same objects `parse` makes here (the helper runs the
same code with the same language and time zone).

Each chunk is claimed (a flag in shared memory) by whichever process starts it first: while
the helper starts up, or if it falls behind, this process checks the chunk itself; if the
helper fails or dies, so does this one. Nothing but the flags and the rows crosses over.

While one chunk is written, the next one is checked: `write_behind` runs the writing in a
second thread that borrows this thread's database connection (SQLite and the drivers let other
threads run while a statement executes, which is most of a chunk's writing), and this thread
checks the next chunk meanwhile, touching no database. Only one thread uses the connection at a
time, so each chunk is written, in its own transaction, exactly as without the thread.

This module imports no models at its top: the helper imports it before Django is set up.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import pickle
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from konvergo.imports.engine import Importer, Row

PARALLEL_ROWS = 10_000  # fewer rows: all checked here (starting the helper takes a second)
AHEAD = 2  # chunks handed to the helper beyond the one being written
WAIT = 0.5  # seconds between looks at whether the helper is still alive

# While the writing thread waits for the GIL after each statement, this thread runs for at most
# this long (Python's default is 5 ms: up to 5 ms lost per statement, and a chunk has ~80).
SWITCH_INTERVAL = 0.0005

Chunk = Sequence[tuple[int, list[Any]]]
Item = TypeVar("Item")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _claim(claims: Any, index: int) -> bool:
    """Whether this process is the first to take chunk `index`."""
    with claims.get_lock():
        if claims[index]:
            return False
        claims[index] = 1
        return True


def _no_queries(*args: Any) -> Any:
    raise RuntimeError("Rows are checked without the database in the helper process.")


def _serve(settings_module: str, state: bytes, tasks: Any, results: Any, claims: Any) -> None:
    """The helper: check each chunk handed over that this process has not started itself."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone, translation

    from konvergo.imports.engine import Importer

    language, zone, checking = pickle.loads(state)  # noqa: S301  (from the parent process)
    importer = Importer.from_checking_state(checking)
    if language:
        translation.activate(language)
    else:
        translation.deactivate_all()
    timezone.activate(zone)
    with connection.execute_wrapper(_no_queries):
        while (task := tasks.get()) is not None:
            index, rows = task
            if not _claim(claims, index):
                results.put((index, None))
                continue
            try:
                checked = importer.parse_rows(rows)
                for row in checked:
                    row.cells = []  # the parent has them
                packed = pickle.dumps(checked, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # the parent checks the chunk again and reports what fails
                packed = b""
            results.put((index, packed))


class CheckedChunks:
    """The chunks of rows, checked (`Importer.parse_rows`), in order; in a helper process
    where that pays. Use as a context manager: leaving it stops the helper."""

    def __init__(
        self, importer: Importer, chunks: Sequence[Chunk], *, check_ahead: bool = True
    ) -> None:
        self.importer = importer
        self.chunks = chunks
        # Whether this process checks a later chunk rather than wait for the helper: not while
        # `write_behind` writes, whose thread needs the GIL more than the helper needs help.
        self.check_ahead = check_ahead
        self.process: Any = None
        rows = sum(len(chunk) for chunk in chunks)
        worth_it = rows >= PARALLEL_ROWS and len(chunks) > 1 and _cores() > 1
        if worth_it and importer.checks_without_database():
            self._start()

    def _start(self) -> None:
        import multiprocessing

        from django.conf import settings
        from django.utils import timezone, translation

        context = multiprocessing.get_context("spawn")
        state = pickle.dumps(
            (
                translation.get_language(),
                timezone.get_current_timezone(),
                self.importer.checking_state(),
            ),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        self.tasks = context.Queue()
        self.results = context.Queue()
        self.claims = context.Array("b", len(self.chunks), lock=True)
        self.process = context.Process(
            target=_serve,
            args=(settings.SETTINGS_MODULE, state, self.tasks, self.results, self.claims),
            daemon=True,
            name="konvergo-import-check",
        )
        self.process.start()
        self.sent = 0
        self.received: dict[int, bytes | None] = {}
        self.ahead: dict[int, list[Row]] = {}  # later chunks checked here while waiting

    def __enter__(self) -> CheckedChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        with contextlib.suppress(Exception):
            self.tasks.put(None)
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        for channel in (self.tasks, self.results):
            channel.close()
            channel.cancel_join_thread()

    def __iter__(self) -> Iterator[list[Row]]:
        for index, chunk in enumerate(self.chunks):
            yield self._checked(index, chunk)

    def _checked(self, index: int, chunk: Chunk) -> list[Row]:
        if self.process is None:
            return self.importer.parse_rows(chunk)
        while self.sent < min(len(self.chunks), index + 1 + AHEAD):
            self.tasks.put((self.sent, self.chunks[self.sent]))
            self.sent += 1
        if index in self.ahead:
            return self.ahead.pop(index)
        if _claim(self.claims, index):
            return self.importer.parse_rows(chunk)
        packed = self._result(index)
        if not packed:  # the helper failed on it, or is gone
            return self.importer.parse_rows(chunk)
        checked: list[Row] = pickle.loads(packed)  # noqa: S301  (from the helper process)
        for row, (_number, cells) in zip(checked, chunk, strict=True):
            row.cells = cells
        return checked

    def _check_ahead(self, index: int) -> bool:
        """Rather than wait for the helper (a dry run writes nothing), check a later chunk it
        has not started; whether there was one."""
        for later in range(index + 1, min(len(self.chunks), index + 2 + 2 * AHEAD)):
            if later not in self.ahead and _claim(self.claims, later):
                self.ahead[later] = self.importer.parse_rows(self.chunks[later])
                return True
        return False

    def _result(self, index: int) -> bytes | None:
        while index not in self.received:
            if self.check_ahead and self.results.empty() and self._check_ahead(index):
                continue
            try:
                got, packed = self.results.get(timeout=WAIT)
            except queue.Empty:
                if not self.process.is_alive():
                    self.close()  # gone: the rest is checked here
                    return None
                continue
            self.received[got] = packed
        return self.received.pop(index)


_END = object()


def write_behind(items: Iterable[Item], write: Callable[[Item], bool]) -> None:
    """`write(item)` for each of `items` in order, in a second thread borrowing this thread's
    database connection, while this thread makes the next item (which must not use the
    database). `write` returns False to stop (no later item is written). An exception of
    `write` stops the writing too and is raised here once the thread has ended; so is one
    of `items` (the item being written is written first)."""
    from django.db import DEFAULT_DB_ALIAS, connections

    database = connections[DEFAULT_DB_ALIAS]
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)  # one item made ahead
    stopped = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        connections[DEFAULT_DB_ALIAS] = database  # for this thread, this connection
        while (item := handoff.get()) is not _END:
            if stopped.is_set():
                continue  # drain what was handed over
            try:
                if not write(item):
                    stopped.set()
            except BaseException as exc:
                failure.append(exc)
                stopped.set()

    database.inc_thread_sharing()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    # The same language, time zone (context variables) in the thread as here.
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(run,), name="konvergo-import-write"
    )
    thread.start()
    try:
        for item in items:
            if stopped.is_set():
                break
            handoff.put(item)
    finally:
        handoff.put(_END)
        thread.join()
        sys.setswitchinterval(interval)
        database.dec_thread_sharing()
        if failure:
            raise failure[0]  # the writing's failure, rather than what stopped the items
