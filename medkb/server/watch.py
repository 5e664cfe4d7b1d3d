"""Warm a newly published KB version in the background, so no request pays its loading.

Requests never wait for this: each takes whatever session is live when it starts
(medkb.MedKB.session reopens when CURRENT moves); the watcher only makes the first request
on a new version as fast as the rest.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("medkb.server")


class VersionWatcher:
    def __init__(self, kb: Any, poll_seconds: float) -> None:
        self.kb = kb
        self.poll = poll_seconds
        self.warmed: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.warmed = self.kb.store.current_name()
        self._thread = threading.Thread(target=self._loop, name="medkb-version-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            name = self.kb.store.current_name()
            if name and name != self.warmed:
                try:
                    self.kb.warm()
                    self.warmed = name
                    log.warning("now serving KB version %s", name)
                except Exception:  # noqa: BLE001 - a broken version must not kill the server
                    log.exception("could not load KB version %s; requests keep the last "
                                  "good one", name)
                    self.warmed = name
