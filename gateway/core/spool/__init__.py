"""The durable job store: job records in a store, document files in one folder per job.

Theory of operation
-------------------
Every job lives in two places: a record in a `JobStore` (SQLite's ``spool.db``
by default: its attributes, state, documents and origin as JSON) and a folder
``jobs/<job-uuid>/`` holding its document files (`staging`).

A front-end receives a job like this::

    folder = spool.new_folder()                  # jobs/<uuid>/, not yet a job
    async with folder.document() as doc:         # jobs/<uuid>/doc-1.part
        await doc.write(chunk) ...               # small: kept in memory; large: streamed
        staged = await doc.finish()              # written, renamed to doc-1
    job = await spool.submit(queue, attrs, [NewDocument(staged, ...)], origin,
                             folder=folder)      # fsyncs, one committed transaction

Only after ``submit`` returns is the job durable, and only then may a
front-end acknowledge it (LPD's last ack, IPP's response). ``submit`` (and
``add_document``) fsyncs, in the commit's own thread and before the commit,
every document file not yet fsync'ed, the job's folder and, for a new job, the
``jobs`` folder; a path shared by the jobs of one group commit is fsync'ed once.
A crash before the commit leaves a folder that no record names; `Spool.open`
deletes it (`recovery`). A crash after the commit leaves a pending job that the
dispatcher forwards again.

Job ids are allocated by the store, so they are positive, increase and are
never reused, also after jobs are purged and across restarts.

Reads are served from an in-memory copy of every record (`indexes`; the history
is bounded by `retention`), so lpq, Get-Jobs and the dispatcher never touch the
disk nor sort. Changes follow the change protocol of `api`: validated against
the job's newest version, written by group commit (`groupcommit`), seen in
memory and by the listeners (the dispatcher) only once committed.

Modules: `api` (the `Spool`), `store` (the `JobStore` interface), `sqlite` (the
SQLite store, all the SQL), `records` (job <-> record), `indexes`, `staging`
(folders, document writers, room and reservations), `groupcommit`, `recovery`,
`retention`, `lock` (one process per spool folder), `errors`, `postgres` (the
job store shared by several gateways) and its `migrations`. The lifecycle
rules the spool applies are in `gateway.core.job`.
"""

from __future__ import annotations

from gateway.core.job import IllegalTransition

from .api import JobListener, Spool
from .errors import JobNotFound, NoSpace, NotPossible, SpoolError
from .groupcommit import CommitFailed, GroupCommit, Write
from .lock import SpoolLocked
from .sqlite import SQLiteStore
from .staging import (
    BUFFER_SIZE,
    CHUNK_SIZE,
    JOBS_DIR,
    SYNC_ON_FINISH,
    DocumentWriter,
    JobFolder,
    NewDocument,
    Reservation,
    StagedFile,
)
from .store import (
    Changes,
    JobStore,
    Record,
    SharedStore,
    StoreConflict,
    StoredJob,
    StoreError,
)

__all__ = [
    "BUFFER_SIZE",
    "CHUNK_SIZE",
    "JOBS_DIR",
    "SYNC_ON_FINISH",
    "Changes",
    "CommitFailed",
    "DocumentWriter",
    "GroupCommit",
    "IllegalTransition",
    "JobFolder",
    "JobListener",
    "JobNotFound",
    "JobStore",
    "NewDocument",
    "NoSpace",
    "NotPossible",
    "Record",
    "Reservation",
    "SQLiteStore",
    "SharedStore",
    "Spool",
    "SpoolError",
    "SpoolLocked",
    "StagedFile",
    "StoreConflict",
    "StoreError",
    "StoredJob",
    "Write",
]
