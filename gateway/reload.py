"""Reload: read the configuration again while the gateway runs (SIGHUP).

Why: a fleet migration runs the gateway for months, and queues come and go
every week; a restart would drop every open connection and pause every
queue. A reload changes what can change without one, and says what cannot.

The rule for each key (`EFFECTS`, by dotted name; a key not named there needs
a restart):

- at once: the queues. A queue new in the file is added (its printer-id and
  the operator's lasting switches and attributes come back if its name had
  them); a queue whose backend URI, options or capabilities changed gets a new
  backend once it has no job being forwarded (its worker is paused in memory,
  the job in hand and the jobs forwarded and still processing at the printer
  finish with the old backend, then the new one forwards the rest); a queue
  whose other settings changed (info, location, auth, ...) takes them at once.
  An operator's lasting switches (``gateway.core.admin``) win over the file's
  ``accepting`` / ``enabled``, as at start.
- removed queues: a queue no longer in the file stops accepting jobs at once
  but stays, listed and answering lpq and Get-Jobs, until every job it holds
  has ended; then it goes (its administration is kept by name). A job that a
  connection opened before the reload commits to it afterwards brings it back
  until that job too has ended.
- for new connections (or the next request): ``[lpd]`` but its addresses and
  ``max_connections``; ``ipp.certificate``, ``ipp.private_key``,
  ``ipp.client_ca`` (TLS: open connections keep their handshake),
  ``ipp.password_file``, ``ipp.operators``, ``ipp.auth``, the request
  timeouts and body rate; ``[oauth]``.
- after a restart: everything else (listen addresses, ``spool_dir``, ``user``,
  ``group``, ``hostname``, caps built into the accept loops, ``[dispatch]``,
  ``[convert]``, ``[accounting]``, ``[dnssd]``, ...). They keep their running
  values, and one warning line names those that changed.

A reload is all or nothing: the file is read and checked, every new backend
is made and every listener prepares its part (a TLS key it cannot load, a
password file it cannot read) before anything changes. A file with an error
is refused with one line, ``reload refused: FILE: key: reason; the running
configuration stays``, and nothing changes.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from gateway import backends
from gateway.backends.base import Backend
from gateway.config import Config, ConfigError, QueueConfig, apply_overrides, load
from gateway.core.admin import PRINTER_SETTABLE, Administration
from gateway.core.context import Commit, GatewayContext
from gateway.core.job import Job, JobState
from gateway.core.queues import Queue, Switches

log = logging.getLogger("gateway.reload")


class Effect(enum.Enum):
    """When a changed key takes effect."""

    AT_ONCE = "at once"
    NEW_CONNECTIONS = "for new connections"
    RESTART = "after a restart"


#: Keys (``section.key``, or a whole ``section``) that do not need a restart.
EFFECTS: Mapping[str, Effect] = {
    "queues": Effect.AT_ONCE,
    "lpd": Effect.NEW_CONNECTIONS,
    "lpd.listen": Effect.RESTART,
    "lpd.max_connections": Effect.RESTART,  # the accept loop's semaphore
    "ipp.certificate": Effect.NEW_CONNECTIONS,
    "ipp.private_key": Effect.NEW_CONNECTIONS,
    "ipp.client_ca": Effect.NEW_CONNECTIONS,
    "ipp.password_file": Effect.NEW_CONNECTIONS,
    "ipp.operators": Effect.NEW_CONNECTIONS,
    "ipp.auth": Effect.NEW_CONNECTIONS,
    "ipp.request_timeout": Effect.NEW_CONNECTIONS,
    "ipp.min_body_rate": Effect.NEW_CONNECTIONS,
    "ipp.body_rate_window": Effect.NEW_CONNECTIONS,
    "ipp.notify_wait_max": Effect.NEW_CONNECTIONS,
    "oauth": Effect.NEW_CONNECTIONS,
}

#: Queue settings that only change what is shown or who may print: the queue
#: keeps its backend when nothing else changed.
SHOWN_ONLY = frozenset(
    {
        "accepting",
        "enabled",
        "info",
        "location",
        "make_and_model",
        "auth",
        "organization",
        "organizational_unit",
        "geo_location",
    }
)

#: Seconds between two looks at whether a paused queue's worker has stopped.
WORKER_LOOK = 0.02

#: Job states in which a job is in the hands of a backend.
AT_BACKEND = (JobState.PROCESSING, JobState.PROCESSING_STOPPED)


def effect_of(key: str) -> Effect:
    """The effect of changing `key` (the most specific entry of `EFFECTS`)."""
    if key in EFFECTS:
        return EFFECTS[key]
    section = key.split(".", 1)[0]
    return EFFECTS.get(section, Effect.RESTART) if "." in key else Effect.RESTART


def _fields(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(value):
        yield f"{prefix}{f.name}", getattr(value, f.name)


def changed_keys(old: Config, new: Config) -> list[str]:
    """The dotted keys whose values differ, queues and ``source`` left out."""
    keys = []
    for name, value in _fields(old, ""):
        if name in ("queues", "source"):
            continue
        other = getattr(new, name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            keys += [k for k, v in _fields(value, f"{name}.") if v != _get(other, k)]
        elif value != other:
            keys.append(name)
    return keys


def _get(section: Any, key: str) -> Any:
    return getattr(section, key.split(".", 1)[1])


@dataclass(frozen=True, slots=True)
class QueueChanges:
    """How the file's queues changed: `added` and `changed` carry the new
    configurations, `removed` the names; `rebuilt` are the changed queues
    that need a new backend."""

    added: tuple[QueueConfig, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[QueueConfig, ...] = ()
    rebuilt: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def queue_changes(old: Config, new: Config) -> QueueChanges:
    """The difference between the queues of two configurations."""
    before = {q.name: q for q in old.queues}
    after = {q.name: q for q in new.queues}
    changed = tuple(q for n, q in after.items() if n in before and before[n] != q)
    return QueueChanges(
        added=tuple(q for n, q in after.items() if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=changed,
        rebuilt=frozenset(q.name for q in changed if needs_backend(before[q.name], q)),
    )


def needs_backend(old: QueueConfig, new: QueueConfig) -> bool:
    """Whether a changed queue needs a new backend (anything but `SHOWN_ONLY`)."""
    return any(
        getattr(old, f.name) != getattr(new, f.name)
        for f in dataclasses.fields(QueueConfig)
        if f.name not in SHOWN_ONLY
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What a reload does: the queue changes, the keys taken (`applied`) and the
    keys left for a restart, and the configuration to put in force
    (`effective`: the new one with the restart keys at their running values)."""

    queues: QueueChanges
    applied: tuple[str, ...]
    restart: tuple[str, ...]
    effective: Config


def plan(old: Config, new: Config) -> Plan:
    """What reloading from `old` to `new` changes (pure; see the module doc)."""
    keys = changed_keys(old, new)
    restart = tuple(k for k in keys if effect_of(k) is Effect.RESTART)
    return Plan(
        queue_changes(old, new),
        tuple(k for k in keys if k not in restart),
        restart,
        keeping(new, old, restart),
    )


def keeping(new: Config, old: Config, keys: tuple[str, ...]) -> Config:
    """`new` with the values of `keys` taken from `old`."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key in keys:
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = getattr(getattr(old, section), name)
        else:
            top[key] = getattr(old, key)
    for section, values in sections.items():
        top[section] = dataclasses.replace(getattr(new, section), **values)
    return dataclasses.replace(new, **top) if top else new


def file_loader(running: Config) -> Callable[[], Config]:
    """Read the running configuration's file again, with the values the command
    line may have set (spool folder, listen addresses, log settings) kept from
    the running configuration, which holds them. Used when `gateway.app.run`
    is not given the command's own loader (which re-applies the flags exactly)."""

    def loader() -> Config:
        if running.source.startswith("<"):
            raise ConfigError(
                running.source, "", "the gateway was started without --config: no file to read"
            )
        return apply_overrides(
            load(running.source),
            spool_dir=running.spool_dir,
            lpd_listen=running.lpd.listen,
            ipp_listen=running.ipp.listen,
            log_level=running.log_level,
            log_format=running.log_format,
        )

    return loader


def with_attributes(config: QueueConfig, attributes: Mapping[str, str]) -> QueueConfig:
    """`config` with the printer attributes an operator set over the file's values."""
    fields: dict[str, Any] = {
        PRINTER_SETTABLE[n]: v for n, v in attributes.items() if n in PRINTER_SETTABLE
    }
    return dataclasses.replace(config, **fields) if fields else config


class Reloader:
    """Applies reloads to a running gateway; `reload` is called on SIGHUP.

    Background work (waiting for a removed queue's jobs, for a changed queue's
    job in hand) runs in `nursery`; `reload` itself returns once the new
    configuration is in force."""

    def __init__(
        self,
        context: GatewayContext,
        admin: Administration,
        loader: Callable[[], Config],
        nursery: trio.Nursery,
    ) -> None:
        self.context = context
        self.admin = admin
        self.loader = loader
        self.nursery = nursery
        self._lock = trio.Lock()
        self._changed = trio.Event()
        #: Queues leaving or being given a new backend, and the scope that ends it.
        self._pending: dict[str, trio.CancelScope] = {}
        #: Queues a reload took out, by name: a late job brings them back.
        self._gone: dict[str, QueueConfig] = {}
        self.reloads = 0  # reloads that took effect (tests)
        context.spool.add_listener(self._job_changed)

    # ------------------------------------------------------------------

    async def reload(self) -> bool:
        """Read the configuration again and apply it; False (and one log line)
        when it is refused and nothing changed."""
        async with self._lock:
            try:
                new = await trio.to_thread.run_sync(self.loader)
                return await self._apply(new)
            except ConfigError as exc:
                log.error("reload refused: %s; the running configuration stays", exc)  # noqa: TRY400
                return False
            except Exception as exc:  # a reader's bug must not stop a running gateway
                log.error(  # noqa: TRY400 (one line; the traceback at debug level)
                    "reload refused: %s: cannot be read (%r); the running configuration stays",
                    self.context.config.source,
                    exc,
                )
                log.debug("reload failure", exc_info=True)
                return False

    async def _apply(self, new: Config) -> bool:
        running = self.context.config
        steps = plan(running, new)
        made: dict[str, Backend] = {}
        try:
            for queue_config in (*steps.queues.added, *steps.queues.changed):
                if queue_config in steps.queues.changed and queue_config.name not in (
                    steps.queues.rebuilt
                ):
                    continue
                made[queue_config.name] = self._backend(new, queue_config)
            commits: list[Commit] = [
                await part.prepare(steps.effective) for part in self.context.reconfigurables
            ]
        except BaseException:
            with trio.CancelScope(shield=True):
                for backend in made.values():
                    await backend.aclose()
            raise
        # Everything is ready: from here nothing refuses.
        self.context.config = steps.effective
        for commit in commits:
            commit()
        await self._apply_queues(steps.queues, made)
        self.reloads += 1
        self._log(new, steps)
        return True

    def _backend(self, config: Config, queue: QueueConfig) -> Backend:
        context = backends.BackendContext(self.context.hostname, config.spool_dir)
        try:
            return backends.create(queue, context)
        except backends.BackendUnavailable as exc:
            raise ConfigError(config.source, f"queues.{queue.name}.backend", str(exc)) from None
        except ValueError as exc:  # a backend option it refuses
            raise ConfigError(config.source, f"queues.{queue.name}", str(exc)) from None

    async def _apply_queues(self, changes: QueueChanges, made: dict[str, Backend]) -> None:
        queues = self.context.queues
        dispatcher = self.context.dispatcher
        for config in changes.added:
            self._gone.pop(config.name, None)
            leaving = queues.get(config.name)
            if leaving is not None and not leaving.runtime:  # an earlier reload removed it
                self._end_pending(config.name)
                self._start(config.name, self._rebuild, leaving, config, made[config.name])
                continue
            await self.admin.add_configured(Queue(config, made[config.name]), dispatcher)
            log.info("reload: queue %s added -> %s", config.name, made[config.name].uri)
        for config in changes.changed:
            queue = queues.get(config.name)
            if queue is None:
                continue
            self._end_pending(config.name)
            if config.name in made:
                self._start(config.name, self._rebuild, queue, config, made[config.name])
            else:
                self._take(queue, config)
        for name in changes.removed:
            queue = queues.get(name)
            if queue is not None and not queue.runtime:
                self._end_pending(name)
                self._leave(queue)

    def _leave(self, queue: Queue) -> None:
        """The queue takes no new job from now on (in memory only), and goes once
        its jobs have ended (`_retire`)."""
        queue.accepting = False
        self._start(queue.name, self._retire, queue)

    def _start(self, name: str, task: Callable[..., Any], *args: Any) -> None:
        scope = trio.CancelScope()
        self._pending[name] = scope
        self.nursery.start_soon(self._pending_task, name, scope, task, *args)

    async def _pending_task(
        self, name: str, scope: trio.CancelScope, task: Callable[..., Any], *args: Any
    ) -> None:
        with scope:
            await task(*args)
        if self._pending.get(name) is scope:
            del self._pending[name]

    def _end_pending(self, name: str) -> None:
        """A later reload names the queue again: what an earlier one left to do
        for it stops, and the queue's switches are its own again at once (not
        when the task's cancellation is delivered, after the new work began)."""
        scope = self._pending.pop(name, None)
        if scope is None:
            return
        scope.cancel()
        queue = self.context.queues.get(name)
        if queue is not None:
            self._restore(queue)

    def _restore(self, queue: Queue) -> None:
        """The queue's switches as the rule says: the operator's lasting ones,
        else the file's."""
        record = self.admin.record(queue.name)
        queue.apply(record.switches or Switches.of(self.admin.configured(queue)))
        self.context.dispatcher.wake(queue.name)

    def _take(self, queue: Queue, config: QueueConfig) -> None:
        """Give `queue` its new configuration (same backend): the operator's
        printer attributes over it, and its switches as the rule says."""
        _set_configured(self.admin, queue.name, config)
        queue.config = with_attributes(config, self.admin.record(queue.name).attributes)
        self._restore(queue)

    async def _rebuild(self, queue: Queue, config: QueueConfig, backend: Backend) -> None:
        """Give `queue` a new backend once it has no job being forwarded."""
        old = queue.backend
        taken = False
        queue.enabled = False  # in memory only: the worker takes no next job
        try:
            self.context.dispatcher.wake(queue.name)
            await self._until(lambda: not self._at_backend(queue.name))
            queue.backend = backend
            taken = True
            self._take(queue, config)
            log.info("reload: queue %s now forwards to %s", queue.name, backend.uri)
        finally:  # cancelled by a later reload: `_end_pending` put the switches back
            with trio.CancelScope(shield=True):
                await (old if taken else backend).aclose()

    def _at_backend(self, name: str) -> bool:
        """Whether the queue's worker runs or one of its jobs is with its backend."""
        if name in self.context.dispatcher.workers:
            return True
        return any(j.state in AT_BACKEND for j in self.context.spool.active_jobs(name))

    async def _retire(self, queue: Queue) -> None:
        """Take out a queue the file no longer has, once its jobs have ended."""
        name = queue.name
        active = self.context.spool.active_count(name)
        if active:
            log.info(
                "reload: queue %s is no longer in the configuration; it takes no new jobs "
                "and goes once its %d job(s) have ended",
                name,
                active,
            )
        # Cancelled by a later reload that names it again: `_end_pending` puts
        # its switches back.
        await self._until(lambda: self.context.spool.active_count(name) == 0)
        await self._until(lambda: name not in self.context.dispatcher.workers)
        configured = self.admin.configured(queue)
        await self.admin.remove_configured(name, self.context.dispatcher)
        self._gone[name] = configured
        with trio.CancelScope(shield=True):
            await queue.backend.aclose()
        log.info("reload: queue %s removed", name)

    def _job_changed(self, job: Job, old: Job | None) -> None:
        """Spool listener: wake `_until`, and bring back a queue a job arrived
        for after the reload took it out (a connection accepted before)."""
        self._changed.set()
        self._changed = trio.Event()
        if job.queue in self._gone and not job.state.is_terminal:
            config = self._gone.pop(job.queue)
            self.nursery.start_soon(self._bring_back, config)

    async def _bring_back(self, config: QueueConfig) -> None:
        if config.name in self.context.queues:
            return
        try:
            backend = self._backend(self.context.config, config)
        except ConfigError as exc:
            log.error("reload: queue %s cannot forward its late job: %s", config.name, exc)  # noqa: TRY400
            return
        queue = Queue(config, backend)
        await self.admin.add_configured(queue, self.context.dispatcher)
        log.info("reload: queue %s is back until its late job(s) have ended", config.name)
        self._leave(queue)

    async def _until(self, done: Callable[[], bool]) -> None:
        """Wait until `done()`: looked at after every job change, and every
        `WORKER_LOOK` s (a worker's end is no job change)."""
        while not done():
            with trio.move_on_after(WORKER_LOOK):
                await self._changed.wait()

    def _log(self, new: Config, steps: Plan) -> None:
        parts = []
        q = steps.queues
        if q.added:
            parts.append("queues added: " + ", ".join(c.name for c in q.added))
        if q.removed:
            parts.append("queues removed: " + ", ".join(q.removed))
        if q.changed:
            parts.append("queues changed: " + ", ".join(c.name for c in q.changed))
        if steps.applied:
            parts.append("settings changed: " + ", ".join(steps.applied))
        log.info("reload: %s: %s", new.source, "; ".join(parts) or "nothing changed")
        if steps.restart:
            log.warning(
                "reload: %s: changed but not applied until a restart: %s",
                new.source,
                ", ".join(steps.restart),
            )


def _set_configured(admin: Administration, name: str, config: QueueConfig) -> None:
    """Tell the administration the file's new configuration of a queue (what
    Set-Printer-Attributes goes back to)."""
    admin.reconfigure(name, config)


__all__ = [
    "EFFECTS",
    "Effect",
    "Plan",
    "QueueChanges",
    "Reloader",
    "changed_keys",
    "effect_of",
    "file_loader",
    "keeping",
    "needs_backend",
    "plan",
    "queue_changes",
    "with_attributes",
]
