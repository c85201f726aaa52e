"""IMAP IDLE: mail read the moment it arrives, where the server can say so.

A watcher beside the worker loop keeps one IDLE session per active mailbox whose server has
the IDLE capability (RFC 2177). When the server announces new mail, the mailbox is marked due
and the worker loop is woken, so the usual poll (`inbound_mail.mailbox_poll`) reads it at once.
The poll every minute stays the safety net: a lost IDLE session, a server without IDLE or a
watcher that is not running only make mail arrive later, never lose it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from konvergo.core.jobs import register_watcher
from konvergo.integrations.models import Mailbox
from konvergo.integrations.services.inbound_mail import connect

logger = logging.getLogger(__name__)

IDLE_SECONDS = 25 * 60  # RFC 2177: end and renew an IDLE at least every 29 minutes
CHECK_SECONDS = 5  # one wait for the server's news (also how soon a stop is noticed)
RESCAN_SECONDS = 60  # how often the mailbox list is read again (added, changed, removed)
RETRY_SECONDS = 60  # after a failed session

_idling: set[int] = set()  # mailboxes with an IDLE session open now


def mailboxes_idling() -> set[int]:
    """Ids of the mailboxes whose server is listening for us right now."""
    return set(_idling)


def _settings(mailbox: Mailbox) -> tuple[Any, ...]:
    return (
        mailbox.host,
        mailbox.port,
        mailbox.use_ssl,
        mailbox.username,
        mailbox.password,
        mailbox.folder,
    )


@register_watcher("integrations.imap_idle")
def watch_mailboxes(stop: threading.Event, wake: Callable[[], None]) -> None:
    """Keep one IDLE session per active mailbox until `stop` is set."""
    sessions: dict[int, tuple[threading.Thread, threading.Event, tuple[Any, ...]]] = {}
    while not stop.is_set():
        try:
            wanted = {m.pk: m for m in Mailbox.objects.filter(is_active=True)}
        except Exception:
            logger.exception("Cannot read the mailboxes to watch")
            wanted = None
        finally:
            close_old_connections()
        if wanted is not None:
            for pk, (thread, ended, key) in list(sessions.items()):
                mailbox = wanted.get(pk)
                if mailbox is None or _settings(mailbox) != key or not thread.is_alive():
                    ended.set()
                    del sessions[pk]
            for pk, mailbox in wanted.items():
                if pk not in sessions:
                    ended = threading.Event()
                    thread = threading.Thread(
                        target=_session,
                        args=(mailbox, stop, ended, wake),
                        name=f"imap-idle-{pk}",
                        daemon=True,
                    )
                    thread.start()
                    sessions[pk] = (thread, ended, _settings(mailbox))
        stop.wait(RESCAN_SECONDS)
    for _thread, ended, _key in sessions.values():
        ended.set()


def _session(
    mailbox: Mailbox, stop: threading.Event, ended: threading.Event, wake: Callable[[], None]
) -> None:
    def over() -> bool:
        return stop.is_set() or ended.is_set()

    while not over():
        try:
            client = connect(mailbox)
        except Exception as exc:  # the poll reports unreachable servers to the admins
            logger.info("IDLE for mailbox %s: cannot connect: %s", mailbox.name, exc)
            ended.wait(RETRY_SECONDS)
            continue
        try:
            if not client.has_capability("IDLE"):
                logger.info("Mailbox %s: the server has no IDLE; polling only", mailbox.name)
                return
            client.select_folder(mailbox.folder, readonly=True)
            while not over():
                client.idle()
                _idling.add(mailbox.pk)
                news = _wait_for_news(client, over)
                client.idle_done()
                if news:
                    _poll_soon(mailbox, wake)
        except Exception as exc:
            logger.info("IDLE for mailbox %s ended: %s", mailbox.name, exc)
            ended.wait(RETRY_SECONDS)
        finally:
            _idling.discard(mailbox.pk)
            with contextlib.suppress(Exception):  # the connection is going away anyway
                client.logout()


def _wait_for_news(client: Any, over: Callable[[], bool]) -> bool:
    """Wait in IDLE until the server announces mail (True) or it is time to renew (False)."""
    started = time.monotonic()
    while not over() and time.monotonic() - started < IDLE_SECONDS:
        for response in client.idle_check(timeout=CHECK_SECONDS):
            announced = isinstance(response, tuple) and len(response) > 1 and response[1]
            if announced in (b"EXISTS", b"RECENT"):
                return True
    return False


def _poll_soon(mailbox: Mailbox, wake: Callable[[], None]) -> None:
    try:
        Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=None)
    finally:
        close_old_connections()
    wake()
