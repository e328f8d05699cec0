"""Stopping a training run cleanly on Ctrl-C or SIGTERM: after the current iteration, with a checkpoint."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

log = logging.getLogger("pona.train.trainer")  # the messages belong to the training log


class StopRequest:
    """Ctrl-C / SIGTERM set a flag; the loop saves a checkpoint and stops after the current
    iteration. A second Ctrl-C aborts at once. Handlers are only installed in the main thread."""

    def __init__(self):
        self.reason: str | None = None

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = name
        log.warning("%s: saving a checkpoint after this iteration, then stopping (Ctrl-C again to abort)", name)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
