"""Backends: where a queue's jobs go. `create` picks one by the URI's scheme."""

from __future__ import annotations

from collections.abc import Callable

from gateway.backends.base import Backend
from gateway.backends.file import FileBackend
from gateway.config import QueueConfig


class BackendUnavailable(Exception):
    """The queue names a backend this build cannot run, or its options are wrong."""


Factory = Callable[[QueueConfig, str], Backend]


def _file(queue: QueueConfig, hostname: str) -> Backend:
    if queue.backend_options:
        raise BackendUnavailable(
            f"queue {queue.name}: the file backend takes no backend_options "
            f"(got {', '.join(sorted(queue.backend_options))})"
        )
    return FileBackend(queue.backend)


#: scheme -> factory. Backends register here as they are built.
FACTORIES: dict[str, Factory] = {"file": _file}


def create(queue: QueueConfig, hostname: str) -> Backend:
    """The backend for a queue, or `BackendUnavailable` saying why not."""
    scheme = queue.backend.split(":", 1)[0].lower()
    factory = FACTORIES.get(scheme)
    if factory is None:
        raise BackendUnavailable(
            f"queue {queue.name}: the {scheme}:// backend is not available in this version "
            f"(available: {', '.join(f'{s}://' for s in sorted(FACTORIES))})"
        )
    return factory(queue, hostname)
