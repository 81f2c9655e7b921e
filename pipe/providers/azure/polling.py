"""Waiting on Azure's long-running operations, saying what is being waited for."""

from __future__ import annotations

from typing import TypeVar

from azure.core.polling import LROPoller

from pipe.progress import PROGRESS_EVERY_S, Progress

T = TypeVar("T")


def finish(poller: LROPoller[T], what: str) -> T:
    """poller.result(), saying every ~15 s what is being waited for: VM creation takes minutes."""
    progress = Progress(what)
    while not poller.done():
        poller.wait(timeout=PROGRESS_EVERY_S)
        progress.tick(f"status {poller.status()}")
    return poller.result()
