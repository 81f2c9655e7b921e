"""The background thread the stand-ins share (vm_standin.VmStandIn, pod_standin.PodStandIn): start() runs
_loop() in a daemon thread until stop() sets _stop; stop() waits for the loop's last round."""

from __future__ import annotations

import threading
from typing import Self


class PollingThread:
    _stop: threading.Event
    _thread: threading.Thread | None

    def _loop(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
