"""Backends: where a queue's jobs go. `create` picks one by the URI's scheme."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.backends.base import Backend
from gateway.backends.file import FileBackend
from gateway.backends.ipp import IppBackend
from gateway.backends.lpd import LPD_OPTIONS, LpdBackend
from gateway.config import QueueConfig


class BackendUnavailable(Exception):
    """The queue names a backend this build cannot run, or its options are wrong."""


@dataclass(frozen=True, slots=True)
class BackendContext:
    """What a backend may need from the gateway: its name and a folder for state."""

    hostname: str
    state_dir: Path


Factory = Callable[[QueueConfig, BackendContext], Backend]

IPP_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "username": str,
    "password": str,
    "tls_verify": str,
    "tls_fingerprint": str,
    "timeout": (int, float),
    "http2": bool,
    "waitjob": bool,
}


def check_options(
    queue: QueueConfig, allowed: Mapping[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """Validate a queue's backend_options against ``allowed`` (name -> type)."""
    options = dict(queue.backend_options)
    for key, value in options.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise BackendUnavailable(
                f"queue {queue.name}: backend_options.{key}: unknown option for this backend "
                f"(known: {known})"
            )
        if not isinstance(value, allowed[key]) or isinstance(value, bool) != (allowed[key] is bool):
            raise BackendUnavailable(
                f"queue {queue.name}: backend_options.{key}: wrong type {type(value).__name__}"
            )
    return options


def _file(queue: QueueConfig, context: BackendContext) -> Backend:
    check_options(queue, {})
    return FileBackend(queue.backend)


def _ipp(queue: QueueConfig, context: BackendContext) -> Backend:
    options = check_options(queue, IPP_OPTIONS)
    mode = options.get("tls_verify", "system")
    if mode not in ("system", "pin", "tofu"):
        raise BackendUnavailable(
            f"queue {queue.name}: backend_options.tls_verify: {mode!r} is not system, pin or tofu"
        )
    if mode == "pin" and not options.get("tls_fingerprint"):
        raise BackendUnavailable(
            f"queue {queue.name}: backend_options.tls_fingerprint: needed with tls_verify = 'pin'"
        )
    return IppBackend(
        queue.backend, options, hostname=context.hostname, state_dir=context.state_dir
    )


def _lpd(queue: QueueConfig, context: BackendContext) -> Backend:
    options = check_options(queue, LPD_OPTIONS)
    try:
        return LpdBackend(queue.backend, options, hostname=context.hostname)
    except ValueError as exc:
        raise BackendUnavailable(f"queue {queue.name}: {queue.backend}: {exc}") from exc


#: scheme -> factory. Backends register here as they are built.
FACTORIES: dict[str, Factory] = {"file": _file, "ipp": _ipp, "ipps": _ipp, "lpd": _lpd}


def create(queue: QueueConfig, context: BackendContext) -> Backend:
    """The backend for a queue, or `BackendUnavailable` saying why not."""
    scheme = queue.backend.split(":", 1)[0].lower()
    factory = FACTORIES.get(scheme)
    if factory is None:
        raise BackendUnavailable(
            f"queue {queue.name}: the {scheme}:// backend is not available in this version "
            f"(available: {', '.join(f'{s}://' for s in sorted(FACTORIES))})"
        )
    return factory(queue, context)
