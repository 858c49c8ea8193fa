"""The administration that lasts: operator switches, printer attributes, run-time queues.

Why: a fleet is run for months. What an operator changes through IPP
(Pause-Printer, Disable-Printer, Hold-New-Jobs, Shutdown-One-Printer,
Set-Printer-Attributes, Set-System-Attributes) and the queues created with
Create-Printer must survive a restart, and every queue needs a printer-id
(PWG 5100.22) that stays the same. All of it is kept in the spool's own
key/value state (`Spool.set_meta` / `Spool.get_meta`), beside the jobs, so one
store holds everything a gateway must not forget.

The configuration file stays read-only at run time: a configuration queue's
administration is kept by queue name and applied over the file's values at
start (a queue removed from the file keeps its record, and gets it back if it
returns); a queue created at run time is defined entirely by its record. When
the file later defines a queue with the name of a run-time queue, the file
wins: the run-time definition is dropped, with one log line.

Layout of the state (JSON documents, each with ``"version": 1``):

- ``admin.index``: ``next-printer-id``, ``printer-ids`` (name -> printer-id,
  for every queue the gateway has known, so an id is never reused while its
  name exists) and ``records`` (the names that have a queue record).
- ``admin.queue.NAME``: one queue's record: ``switches`` (accepting, enabled,
  hold-new-jobs, shutdown), ``attributes`` (printer-info, printer-location,
  ... as set by an operator) and, for a run-time queue, ``runtime`` (backend
  URI, backend options, creation time). A deleted queue's record is emptied.
- ``admin.system``: ``uuid`` (system-uuid), ``attributes`` (system-info,
  system-location, ...), ``config-changes`` and ``config-change-time``.

One key per queue, so a change writes one small record whatever the size of
the fleet; Pause-All-Printers over 2,000 queues writes 2,000 records that group
commit puts in a transaction or two. At start only the index, the system
document and the queues that have a record are read.

A record is written before the index names it and the index forgets a queue
before its record is emptied, so a stop between the two writes leaves at most
an unused record, never an index entry without its record. Changes take effect
in memory only once they are durable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from gateway.backends.base import Backend
from gateway.config import QueueConfig, check_backend_uri, check_queue_name
from gateway.core.dispatcher import shown_backend
from gateway.core.queues import Queue, Queues, Switches
from gateway.core.spool import JobNotFound, NotPossible, SpoolError

if TYPE_CHECKING:
    from gateway.core.dispatcher import Dispatcher
    from gateway.core.spool import Spool

log = logging.getLogger("gateway.admin")

#: The format of every document below; a newer one is refused at start.
STATE_VERSION = 1
INDEX_KEY = "admin.index"
SYSTEM_KEY = "admin.system"
QUEUE_KEY = "admin.queue."
#: printer-id is integer(1:65535) (PWG 5100.22).
MAX_PRINTER_ID = 65535

#: Printer attributes an operator may set (Set-Printer-Attributes, Create-Printer),
#: by IPP name, and the `QueueConfig` field each one overrides.
PRINTER_SETTABLE: Mapping[str, str] = {
    "printer-info": "info",
    "printer-location": "location",
    "printer-geo-location": "geo_location",
    "printer-organization": "organization",
    "printer-organizational-unit": "organizational_unit",
    "printer-make-and-model": "make_and_model",
}

#: System attributes an operator may set (Set-System-Attributes): text, name and
#: uri values are kept as strings, the contact collections as dicts of members.
SYSTEM_SETTABLE = (
    "system-contact-col",
    "system-geo-location",
    "system-info",
    "system-location",
    "system-make-and-model",
    "system-name",
    "system-organization",
    "system-organizational-unit",
    "system-owner-col",
)

#: The switches of a queue made with Create-Printer: stopped and not accepting jobs
#: until an operator starts it (Startup-One-Printer, or Enable- and Resume-Printer),
#: as PWG 5100.22's reference implementation (ippsample's ippserver) creates them.
CREATED_SWITCHES = Switches(accepting=False, enabled=False)

#: How long Delete-Printer with its jobs canceled waits for the backend cancels.
CANCEL_WAIT = 30.0

#: Makes the backend of a queue; raises (with a one-line reason) when it cannot.
BackendFactory = Callable[[QueueConfig], Backend]


class AdminStateError(ValueError):
    """The stored administration state cannot be read by this version (the
    message is one line saying why and what to do)."""


class QueueRefused(Exception):
    """A queue cannot be created or deleted as asked; the message says why.
    ``not_found``: there is no such queue."""

    def __init__(self, reason: str, *, not_found: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.not_found = not_found


@dataclass(frozen=True, slots=True)
class RuntimeDefinition:
    """What defines a queue created at run time (the configuration file's part)."""

    backend: str
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One queue's stored administration. ``switches`` None: the configuration's;
    ``attributes``: printer attributes set by an operator (IPP name -> value)."""

    name: str
    switches: Switches | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    runtime: RuntimeDefinition | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {"version": STATE_VERSION, "name": self.name}
        if self.switches is not None:
            s = self.switches
            data["switches"] = {
                "accepting": s.accepting,
                "enabled": s.enabled,
                "hold-new-jobs": s.hold_new_jobs,
                "shutdown": s.shutdown,
            }
        if self.attributes:
            data["attributes"] = dict(sorted(self.attributes.items()))
        if self.runtime is not None:
            data["runtime"] = {
                "backend": self.runtime.backend,
                "backend-options": dict(self.runtime.backend_options),
                "created": self.runtime.created,
            }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> QueueRecord:
        """A record from its document (ValueError when a field has the wrong type)."""
        switches = None
        raw = data.get("switches")
        if raw is not None:
            switches = Switches(
                accepting=_bool(raw, "accepting", True),
                enabled=_bool(raw, "enabled", True),
                hold_new_jobs=_bool(raw, "hold-new-jobs", False),
                shutdown=_bool(raw, "shutdown", False),
            )
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict) or not all(
            isinstance(v, str) for v in attributes.values()
        ):
            raise ValueError("attributes must map names to strings")
        runtime = None
        defined = data.get("runtime")
        if defined is not None:
            options = defined.get("backend-options") or {}
            if not isinstance(defined.get("backend"), str) or not isinstance(options, dict):
                raise ValueError("runtime needs a backend URI and an options table")
            runtime = RuntimeDefinition(
                defined["backend"], options, float(defined.get("created") or 0.0)
            )
        known = {k: v for k, v in attributes.items() if k in PRINTER_SETTABLE}
        return cls(name, switches, known, runtime)


def _bool(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"switches.{key} must be true or false")
    return value


@dataclass(frozen=True, slots=True)
class SystemSettings:
    """The System object's own lasting attributes (PWG 5100.22)."""

    uuid: str  # system-uuid, urn:uuid:...
    attributes: Mapping[str, Any] = field(default_factory=dict)  # SYSTEM_SETTABLE names
    config_changes: int = 0  # system-config-changes
    config_changed: float = 0.0  # when the last one was made (0: none yet)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "uuid": self.uuid,
                "attributes": dict(sorted(self.attributes.items())),
                "config-changes": self.config_changes,
                "config-change-time": self.config_changed,
            },
            separators=(",", ":"),
        )


@dataclass(slots=True)
class _Index:
    next_printer_id: int = 1
    printer_ids: dict[str, int] = field(default_factory=dict)
    records: set[str] = field(default_factory=set)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "next-printer-id": self.next_printer_id,
                "printer-ids": self.printer_ids,
                "records": sorted(self.records),
            },
            separators=(",", ":"),
        )

    def assign(self, name: str) -> bool:
        """Give `name` a printer-id if it has none; whether one was given."""
        if name in self.printer_ids:
            return False
        number = self.next_printer_id
        if number > MAX_PRINTER_ID:  # 65,535 names seen: take the lowest free id
            used = set(self.printer_ids.values())
            number = next(i for i in range(1, MAX_PRINTER_ID + 1) if i not in used)
        else:
            self.next_printer_id = number + 1
        self.printer_ids[name] = number
        return True

    def copy(self) -> _Index:
        return _Index(self.next_printer_id, dict(self.printer_ids), set(self.records))


def _document(key: str, text: str | None, *, strict: bool) -> dict[str, Any] | None:
    """A stored document, None when absent or emptied. One this version cannot
    read raises `AdminStateError` when `strict` (or when it is from a newer
    version), else is logged and skipped."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > STATE_VERSION:
        raise AdminStateError(
            f"the spool's administration state ({key}) was written by a newer version "
            f"of lpd-ipp-gateway (format {version}, this one reads {STATE_VERSION}); "
            "run that version, or use another --spool-dir"
        )
    if not isinstance(data, dict) or version != STATE_VERSION:
        if strict:
            raise AdminStateError(
                f"the spool's administration state ({key}) cannot be read; "
                "restore the spool from a backup, or use another --spool-dir"
            )
        log.error("admin: %s cannot be read; the configuration's values are used", key)
        return None
    return data


class Administration:
    """The lasting administration of one gateway's queues; see the module doc.
    Made by `restore` at start, reachable as `Queues.admin`."""

    def __init__(
        self,
        spool: Spool,
        factory: BackendFactory,
        backends: list[Queue],
        index: _Index,
        system: SystemSettings,
        records: dict[str, QueueRecord],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.factory = factory
        self._backends = backends  # the queues whose backends the gateway closes at exit
        self._index = index
        self.system = system
        self._records = records
        self._clock = clock
        self._base: dict[str, QueueConfig] = {}  # each queue's config before attributes
        self._lock = trio.Lock()  # one change of the state at a time
        self._watchers: dict[int, list[trio.Event]] = {}
        self.started = clock()
        #: When an operator last changed a queue's state (system-state-change-time).
        self.state_changed = self.started
        self.queues: Queues | None = None  # set by `restore`
        #: Called with a queue's name when another gateway changed its switches
        #: (the dispatcher's `wake`, so that a resume there forwards here at once).
        self.switched: Callable[[str], None] | None = None
        spool.add_listener(self._job_changed)
        spool.add_meta_listener(self._meta_changed)  # other gateways on a shared store

    # ------------------------------------------------------------------
    # Start

    @classmethod
    async def restore(
        cls,
        spool: Spool,
        made: list[Queue],
        factory: BackendFactory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> Queues:
        """The queues to run: the configuration's (`made`, in the file's order)
        with their stored administration applied, then the stored run-time
        queues (their backends made with `factory`; appended to `made`, whose
        backends the caller closes when it stops). `AdminStateError` when the
        stored state cannot be read."""
        began = time.perf_counter()
        index_data = _document(INDEX_KEY, await spool.get_meta(INDEX_KEY), strict=True)
        index = _Index()
        if index_data is not None:
            try:
                index = _Index(
                    int(index_data["next-printer-id"]),
                    {str(k): int(v) for k, v in index_data["printer-ids"].items()},
                    {str(n) for n in index_data["records"]},
                )
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise AdminStateError(
                    f"the spool's administration state ({INDEX_KEY}) cannot be read ({exc}); "
                    "restore the spool from a backup, or use another --spool-dir"
                ) from None
        system_data = _document(SYSTEM_KEY, await spool.get_meta(SYSTEM_KEY), strict=False)
        system_new = system_data is None or not isinstance(system_data.get("uuid"), str)
        system = SystemSettings(uuid=f"urn:uuid:{uuid.uuid4()}")
        if system_data is not None and not system_new:
            attributes = system_data.get("attributes") or {}
            system = SystemSettings(
                uuid=str(system_data["uuid"]),
                attributes={k: v for k, v in attributes.items() if k in SYSTEM_SETTABLE},
                config_changes=int(system_data.get("config-changes") or 0),
                config_changed=float(system_data.get("config-change-time") or 0.0),
            )
        records: dict[str, QueueRecord] = {}
        for name in sorted(index.records):
            key = QUEUE_KEY + name
            data = _document(key, await spool.get_meta(key), strict=False)
            if data is None:
                continue
            try:
                records[name] = QueueRecord.from_json(name, data)
            except (ValueError, TypeError, AttributeError) as exc:
                log.error(  # noqa: TRY400 (one line, no traceback)
                    "admin: %s cannot be read (%s); the configuration's values are used", key, exc
                )

        configured = {q.name for q in made}
        dropped = sorted(n for n, r in records.items() if r.runtime is not None and n in configured)
        for name in dropped:
            log.warning(
                "queue %s: the configuration file defines it now; the queue created at run "
                "time with that name (backend %s) is dropped",
                name,
                _shown(records[name].runtime.backend),  # type: ignore[union-attr]
            )
            del records[name]
        admin = cls(spool, factory, made, index, system, records, clock=clock)
        changed = index.copy()
        changed.records.difference_update(dropped)
        for queue in made:
            changed.assign(queue.name)
            admin._adopt(queue)
        runtime: list[Queue] = []
        for name, record in sorted(records.items(), key=lambda r: index.printer_ids.get(r[0], 0)):
            if record.runtime is None:
                continue
            made_now = admin._runtime_queue(name, record)
            if made_now is not None:
                changed.assign(name)
                admin._adopt(made_now)
                runtime.append(made_now)
        made.extend(runtime)
        queues = Queues(made, admin=admin)
        admin.queues = queues
        if dropped:
            await set_all(spool, {QUEUE_KEY + n: "" for n in dropped})
        if changed != index:
            await spool.set_meta(INDEX_KEY, changed.to_json())
            admin._index = changed
        for queue in queues:
            queue.printer_id = admin._index.printer_ids[queue.name]
        if system_new:
            await spool.set_meta(SYSTEM_KEY, system.to_json())
        if records:
            log.info(
                "admin: the operator's state of %d queue(s) restored and %d queue(s) created "
                "at run time started, in %.0f ms",
                sum(1 for r in records.values() if r.runtime is None and r.name in configured),
                len(runtime),
                (time.perf_counter() - began) * 1000,
            )
        return queues

    def _meta_changed(self, key: str, value: str) -> None:
        """Another gateway sharing the job store changed a queue's record (a
        pause, a disable, printer attributes): take it in memory here too.
        Queues created or deleted there, and the system document, are taken
        at the next start."""
        if not key.startswith(QUEUE_KEY) or self.queues is None:
            return
        name = key[len(QUEUE_KEY) :]
        queue = self.queues.get(name)
        try:
            data = _document(key, value, strict=False)
            if queue is None or data is None:
                return
            record = QueueRecord.from_json(name, data)
        except (ValueError, TypeError, AttributeError) as exc:
            log.error("admin: %s from another gateway cannot be read (%s)", key, exc)  # noqa: TRY400
            return
        self._records[name] = record
        queue.config = _with_attributes(self._base.get(name, queue.config), record.attributes)
        if record.switches is not None and record.switches != queue.switches:
            queue.apply(record.switches)
            self.state_changed = self._clock()
            log.info("queue %s: switches changed by another gateway: %s", name, record.switches)
            if self.switched is not None:
                self.switched(name)

    def _adopt(self, queue: Queue) -> None:
        """Apply the stored record of `queue` (switches, attributes) in memory."""
        self._base[queue.name] = queue.config
        record = self._records.get(queue.name)
        if record is None:
            return
        queue.config = _with_attributes(queue.config, record.attributes)
        if record.switches is not None:
            queue.apply(record.switches)

    def _runtime_queue(self, name: str, record: QueueRecord) -> Queue | None:
        """The queue a run-time record defines, or None (logged) when its backend
        cannot be made now (the record is kept for a later start)."""
        assert record.runtime is not None
        config = QueueConfig(
            name=name,
            backend=record.runtime.backend,
            backend_options=dict(record.runtime.backend_options),
        )
        try:
            check_queue_name(name)
            backend = self.factory(config)
        except Exception as exc:  # the factory's refusal: one line saying why
            log.error("queue %s (created at run time) is not started: %s", name, exc)  # noqa: TRY400
            return None
        return Queue(config, backend, runtime=True, created=record.runtime.created)

    # ------------------------------------------------------------------
    # Reading

    def record(self, name: str) -> QueueRecord:
        """The stored administration of queue `name` (an empty record if none)."""
        return self._records.get(name) or QueueRecord(name)

    def reconfigure(self, name: str, config: QueueConfig) -> None:
        """The configuration file's new definition of a queue (a reload): what
        Set-Printer-Attributes' delete-attribute goes back to."""
        self._base[name] = config

    def configured(self, queue: Queue) -> QueueConfig:
        """The queue's configuration before any printer attribute an operator set."""
        return self._base.get(queue.name, queue.config)

    # ------------------------------------------------------------------
    # Changing (each durable before it takes effect)

    async def save_switches(self, changes: Sequence[tuple[Queue, Switches]]) -> None:
        """Make new switches durable (called by `Queues.set_switches`, which then
        takes them in memory): one record per queue, written together."""
        async with self._lock:
            updated = {
                q.name: dataclasses.replace(self.record(q.name), switches=s) for q, s in changes
            }
            await self._write_records(updated)
            self.state_changed = self._clock()

    async def set_printer_attributes(self, queue: Queue, changes: Mapping[str, str | None]) -> None:
        """Set printer attributes of `queue` (PRINTER_SETTABLE names; None goes back
        to the configured value): durable, then in `queue.config`."""
        unknown = [n for n in changes if n not in PRINTER_SETTABLE]
        if unknown:
            raise ValueError(f"not settable: {', '.join(unknown)}")
        async with self._lock:
            record = self.record(queue.name)
            attributes = dict(record.attributes)
            for name, value in changes.items():
                if value is None:
                    attributes.pop(name, None)
                else:
                    attributes[name] = value
            await self._write_records(
                {queue.name: dataclasses.replace(record, attributes=attributes)}
            )
            queue.config = _with_attributes(self.configured(queue), attributes)
            await self._config_changed()

    async def set_system_attributes(self, changes: Mapping[str, Any]) -> None:
        """Set System attributes (SYSTEM_SETTABLE names; None removes one)."""
        unknown = [n for n in changes if n not in SYSTEM_SETTABLE]
        if unknown:
            raise ValueError(f"not settable: {', '.join(unknown)}")
        async with self._lock:
            attributes = dict(self.system.attributes)
            for name, value in changes.items():
                if value is None:
                    attributes.pop(name, None)
                else:
                    attributes[name] = value
            now = self._clock()
            system = dataclasses.replace(
                self.system,
                attributes=attributes,
                config_changes=self.system.config_changes + 1,
                config_changed=now,
            )
            await self.spool.set_meta(SYSTEM_KEY, system.to_json())
            self.system = system

    # ------------------------------------------------------------------
    # Queues created and deleted at run time

    async def create_queue(
        self,
        name: str,
        backend: str,
        dispatcher: Dispatcher,
        *,
        backend_options: Mapping[str, Any] | None = None,
        attributes: Mapping[str, str] | None = None,
        switches: Switches | None = None,
    ) -> Queue:
        """Create a queue at run time (Create-Printer): check the name and the
        backend URI, make the backend (which checks its options), store the
        definition, then add the queue and tell the dispatcher. It starts with
        `switches` (by default `CREATED_SWITCHES`). `QueueRefused` says why not."""
        switches = CREATED_SWITCHES if switches is None else switches
        options = dict(backend_options or {})
        given = dict(attributes or {})
        unknown = [n for n in given if n not in PRINTER_SETTABLE]
        if unknown:
            raise QueueRefused(f"not settable: {', '.join(unknown)}")
        try:
            check_queue_name(name)
            check_backend_uri(backend)
        except ValueError as exc:
            raise QueueRefused(str(exc)) from None
        queues = self._queues()
        async with self._lock:
            if name in queues:
                raise QueueRefused(f"a queue named {name} exists already")
            base = QueueConfig(name=name, backend=backend, backend_options=options)
            try:
                made = self.factory(base)
            except Exception as exc:  # the factory's refusal: one line saying why
                raise QueueRefused(str(exc)) from None
            queue = Queue(_with_attributes(base, given), made, runtime=True, created=self._clock())
            queue.apply(switches)
            record = QueueRecord(
                name, switches, given, RuntimeDefinition(backend, options, queue.created)
            )
            index = self._index.copy()
            index.assign(name)
            try:
                await self._write_records({name: record}, index)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await made.aclose()
                raise
            queue.printer_id = self._index.printer_ids[name]
            self._base[name] = base
            queues.add(queue)
            self._backends.append(queue)
            await self._config_changed()
        dispatcher.queue_added(name)
        log.info(
            "queue %s created at run time (printer-id %d) -> %s",
            name,
            queue.printer_id,
            _shown(backend),
        )
        return queue

    async def delete_queue(
        self, name: str, dispatcher: Dispatcher, *, cancel_jobs: bool = False, by: str = ""
    ) -> Queue:
        """Delete a queue created at run time (Delete-Printer). Refused
        (`QueueRefused`) for a queue of the configuration file, and while the
        queue has jobs not yet ended unless `cancel_jobs`: then they are canceled
        first (at their backend too, waiting at most `CANCEL_WAIT` s). Its ended
        jobs stay in the history; its record is emptied, its printer-id freed."""
        queues = self._queues()
        queue = queues.get(name)
        if queue is None:
            raise QueueRefused(f"there is no queue {name}", not_found=True)
        if not queue.runtime:
            raise QueueRefused(f"queue {name} is defined in the configuration file")
        active = self.spool.active_jobs(name)
        if active and not cancel_jobs:
            raise QueueRefused(
                f"queue {name} has {len(active)} job(s) not yet ended; cancel them first "
                "(or ask to cancel them with the deletion)"
            )
        if active:
            queue.accepting = False  # no new jobs while its jobs are canceled
            await self._cancel_all(queue, dispatcher, by)
        async with self._lock:
            if queues.get(name) is not queue:
                raise QueueRefused(f"there is no queue {name}", not_found=True)
            if len(queues) == 1:
                raise QueueRefused(f"queue {name} is the only queue")
            late = self.spool.active_jobs(name)  # came in while the others were canceled
            if late and not cancel_jobs:
                raise QueueRefused(f"queue {name} has {len(late)} job(s) not yet ended")
            for job in late:
                with contextlib.suppress(NotPossible, JobNotFound):
                    await self.spool.cancel(job.id, reason="job-canceled-by-operator")
            index = self._index.copy()
            index.printer_ids.pop(name, None)
            index.records.discard(name)
            await self.spool.set_meta(INDEX_KEY, index.to_json())  # from here it is gone
            self._index = index
            self._records.pop(name, None)
            self._base.pop(name, None)
            queues.remove(name)
            dispatcher.queue_removed(name)
            try:
                await self.spool.set_meta(QUEUE_KEY + name, "")
            except SpoolError as exc:  # the index no longer names it: nothing is lost
                log.warning("queue %s: its record is not emptied yet: %s", name, exc)
            await self._config_changed()
        if queue in self._backends:
            self._backends.remove(queue)
        with trio.CancelScope(shield=True):
            try:
                await queue.backend.aclose()
            except Exception as exc:
                log.warning("queue %s: closing its backend failed: %r", name, exc)
        log.info("queue %s deleted%s", name, f" by {by}" if by else "")
        return queue

    # ------------------------------------------------------------------
    # Configuration queues that come and go while the gateway runs (a reload)

    async def add_configured(self, queue: Queue, dispatcher: Dispatcher) -> None:
        """Add a queue of the configuration file while the gateway runs (a reload
        found it in the file): it gets its printer-id (the one its name had, if
        any) and its stored administration, and the dispatcher starts on it.

        A run-time queue of that name is replaced, as at start: the file wins
        (one log line); its record goes and its jobs not yet ended stay in the
        spool under the name, so the file's queue forwards them (a job being
        handed to the old backend is handed again). ValueError if a
        configuration queue of that name exists."""
        queues = self._queues()
        current = queues.get(queue.name)
        if current is not None and not current.runtime:
            raise ValueError(f"queue {queue.name} already exists")
        async with self._lock:
            index = self._index.copy()
            index.assign(queue.name)
            if current is not None:
                log.warning(
                    "queue %s: the configuration file defines it now; the queue created at "
                    "run time with that name (backend %s) is dropped",
                    queue.name,
                    _shown(current.backend.uri),
                )
                index.records.discard(queue.name)
            if index != self._index:
                await self.spool.set_meta(INDEX_KEY, index.to_json())
                self._index = index
            if current is not None:
                self._records.pop(queue.name, None)
                queues.remove(queue.name)
                dispatcher.queue_removed(queue.name)
                if current in self._backends:
                    self._backends.remove(current)
                with contextlib.suppress(SpoolError):
                    await self.spool.set_meta(QUEUE_KEY + queue.name, "")
            self._adopt(queue)
            queue.printer_id = self._index.printer_ids[queue.name]
            queues.add(queue)
            self._backends.append(queue)
        dispatcher.queue_added(queue.name)
        if current is not None:
            with trio.CancelScope(shield=True):
                try:
                    await current.backend.aclose()
                except Exception as exc:
                    log.warning("queue %s: closing its old backend failed: %r", queue.name, exc)

    async def remove_configured(self, name: str, dispatcher: Dispatcher) -> Queue:
        """Take out a queue the configuration file no longer has (a reload). Its
        administration and printer-id are kept by name (it gets them back if the
        file names it again); its jobs stay in the spool. The caller closes its
        backend once its jobs are settled. `QueueRefused` for a run-time queue
        or no such queue."""
        queues = self._queues()
        queue = queues.get(name)
        if queue is None:
            raise QueueRefused(f"there is no queue {name}", not_found=True)
        if queue.runtime:
            raise QueueRefused(f"queue {name} was created at run time, not by the file")
        async with self._lock:
            try:
                queues.remove(name)
            except ValueError as exc:
                raise QueueRefused(str(exc)) from None
            self._base.pop(name, None)
            if queue in self._backends:
                self._backends.remove(queue)
        dispatcher.queue_removed(name)
        return queue

    async def _cancel_all(self, queue: Queue, dispatcher: Dispatcher, by: str) -> None:
        """Cancel every job of `queue` not yet ended, and wait (bounded) until the
        dispatcher has canceled the forwarded ones at the backend."""
        message = f"queue {queue.name} was deleted" + (f" by {by}" if by else "")
        with trio.move_on_after(CANCEL_WAIT) as waited:
            for _ in range(3):  # jobs that arrived meanwhile are canceled too
                active = self.spool.active_jobs(queue.name)
                if not active:
                    break
                for job in active:
                    try:
                        await dispatcher.cancel(
                            job, reason="job-canceled-by-operator", message=message
                        )
                    except (NotPossible, JobNotFound):
                        continue
            for job in self.spool.jobs(queue.name):
                await self._until_not_flagged(job.id)
        if waited.cancelled_caught:
            log.warning(
                "queue %s: its jobs were not all canceled at the backend within %.0f s; "
                "deleting it anyway",
                queue.name,
                CANCEL_WAIT,
            )

    async def _until_not_flagged(self, job_id: int) -> None:
        """Wait until the job is no longer to be canceled at its backend."""
        while True:
            job = self.spool.get(job_id)
            if job is None or not job.cancel_requested:
                return
            event = trio.Event()
            self._watchers.setdefault(job_id, []).append(event)
            await event.wait()

    def _job_changed(self, job: Any, old: Any) -> None:
        """Spool listener: wake whoever waits for this job (`_until_not_flagged`)."""
        for event in self._watchers.pop(job.id, ()):
            event.set()

    # ------------------------------------------------------------------
    # Writing

    def _queues(self) -> Queues:
        if self.queues is None:
            raise RuntimeError("the administration is not restored yet")
        return self.queues

    async def _write_records(
        self, records: Mapping[str, QueueRecord], index: _Index | None = None
    ) -> None:
        """Write queue records (together, so group commit shares the flush), then
        the index if it changed or names a new record. Call with the lock held."""
        await set_all(self.spool, {QUEUE_KEY + n: r.to_json() for n, r in records.items()})
        self._records.update(records)
        wanted = (index or self._index).copy()
        wanted.records.update(records)
        if wanted != self._index:
            await self.spool.set_meta(INDEX_KEY, wanted.to_json())
            self._index = wanted

    async def _config_changed(self) -> None:
        """Count a configuration change (system-config-changes) durably. The
        change itself is already made: a count that cannot be written is logged."""
        system = dataclasses.replace(
            self.system,
            config_changes=self.system.config_changes + 1,
            config_changed=self._clock(),
        )
        self.system = system
        try:
            await self.spool.set_meta(SYSTEM_KEY, system.to_json())
        except SpoolError as exc:
            log.warning("admin: system-config-changes not recorded: %s", exc)


async def set_all(spool: Spool, items: Mapping[str, str]) -> None:
    """Set several keys of the spool's state at once (one task each, so group
    commit puts them in as few transactions as it can)."""
    if len(items) == 1:
        ((key, value),) = items.items()
        await spool.set_meta(key, value)
        return
    async with trio.open_nursery() as nursery:
        for key, value in items.items():
            nursery.start_soon(spool.set_meta, key, value)


def _with_attributes(config: QueueConfig, attributes: Mapping[str, str]) -> QueueConfig:
    """`config` with operator-set printer attributes over its own values."""
    fields: dict[str, Any] = {
        PRINTER_SETTABLE[n]: v for n, v in attributes.items() if n in PRINTER_SETTABLE
    }
    return dataclasses.replace(config, **fields) if fields else config


def _shown(uri: str) -> str:
    """A backend URI for the log: without credentials or options."""
    if uri.startswith("file:"):
        return uri
    return shown_backend(uri)


__all__ = [
    "CANCEL_WAIT",
    "CREATED_SWITCHES",
    "PRINTER_SETTABLE",
    "SYSTEM_SETTABLE",
    "AdminStateError",
    "Administration",
    "BackendFactory",
    "QueueRecord",
    "QueueRefused",
    "RuntimeDefinition",
    "SystemSettings",
]
