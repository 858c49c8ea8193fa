"""Backends: where a queue's jobs go. `create` picks one by the URI's scheme."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.backends.base import Backend, BackendOption, OptionError
from gateway.backends.file import FILE_OPTIONS, FileBackend
from gateway.backends.ipp import IPP_OPTIONS, IppBackend
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


def check_options(queue: QueueConfig, table: Mapping[str, BackendOption]) -> dict[str, Any]:
    """Check the TOML types of a queue's backend_options against its backend's
    option ``table`` (each backend module owns one)."""
    options = dict(queue.backend_options)
    for key, value in options.items():
        option = table.get(key)
        if option is None:
            known = ", ".join(sorted(table)) or "none"
            raise BackendUnavailable(
                f"queue {queue.name}: backend_options.{key}: unknown option for this backend "
                f"(known: {known})"
            )
        if not isinstance(value, option.types) or isinstance(value, bool) != (option.types is bool):
            raise BackendUnavailable(
                f"queue {queue.name}: backend_options.{key}: wrong type {type(value).__name__}"
            )
    return options


def _file(queue: QueueConfig, context: BackendContext) -> Backend:
    check_options(queue, FILE_OPTIONS)
    return FileBackend(queue.backend)


def _ipp(queue: QueueConfig, context: BackendContext) -> Backend:
    options = check_options(queue, IPP_OPTIONS)
    try:
        return IppBackend(
            queue.backend, options, hostname=context.hostname, state_dir=context.state_dir
        )
    except OptionError as exc:
        raise BackendUnavailable(
            f"queue {queue.name}: backend_options.{exc.name}: {exc.reason}"
        ) from exc


def _lpd(queue: QueueConfig, context: BackendContext) -> Backend:
    options = check_options(queue, LPD_OPTIONS)
    try:
        return LpdBackend(queue.backend, options, hostname=context.hostname)
    except ValueError as exc:
        raise BackendUnavailable(f"queue {queue.name}: {queue.backend}: {exc}") from exc


def _infra(queue: QueueConfig, context: BackendContext) -> Backend:
    # An infrastructure queue (PWG 5100.18) holds its jobs for proxies: no printer.
    from gateway.core.infra import ProxyHold  # noqa: PLC0415 (the core builds on backends)

    return ProxyHold(queue.name)


#: scheme -> factory. Backends register here as they are built.
FACTORIES: dict[str, Factory] = {
    "file": _file,
    "ipp": _ipp,
    "ipps": _ipp,
    "lpd": _lpd,
    "infra": _infra,
}


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
