"""The bake's VM played on a cloud that is polled (the local AWS, the local GCP): a thread looks for running
bake instances; each new one's boot script (the bake role) runs once in a sandbox, and the subclass powers the
instance off as that cloud's guest power-off would. hang=True: never powers off."""

from __future__ import annotations

import tempfile
import threading
from typing import Any, Self


class PollingBakeGuest:
    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.outputs: dict[str, str] = {}  # instance id or name -> its bake script's output
        self._stop = threading.Event()
        self._dir = tempfile.mkdtemp(prefix="bake-guest-")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def running_bakes(self) -> list[tuple[str, dict[str, Any]]]:
        """(id, the cloud's record) of each bake instance running now."""
        raise NotImplementedError

    def boot(self, raw: dict[str, Any]) -> None:
        """Run the instance's boot script, record its output in self.outputs, power it off unless hang."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, raw in self.running_bakes():
                if key not in self.outputs:
                    self.boot(raw)
            self._stop.wait(0.1)
