"""The backend-independent part of a run store: queries, id resolution and messages."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from lseprof.errors import EXIT_FAILED, LseprofError

if TYPE_CHECKING:
    import pandas as pd

from lseprof.store.records import GroupSummary, RunRecord, record_from_row, record_to_row
from lseprof.store.schema import MIN_PREFIX, SCHEMA_VERSION, Statements


class DuplicateRunId(Exception):
    """Raised by a backend's ``_insert_rows`` when a run id is already stored."""


class SqlRunStoreBase(ABC):
    """The part of a run store that does not depend on the database.

    A backend supplies its :class:`Statements`, runs them (:meth:`_rows`,
    :meth:`_insert_rows`), and converts its column values (:meth:`_record`,
    :meth:`_stamp`); the queries, id resolution and messages are shared.
    """

    location: str
    _sql: ClassVar[Statements]

    # -- what a backend provides

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query, database errors turned into LseprofErrors."""

    @abstractmethod
    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (from :func:`record_to_row`) in one transaction, all or none.

        Raises :class:`DuplicateRunId` if a run id is already taken.
        """

    @abstractmethod
    def _not_a_store(self, why: str) -> LseprofError:
        """The error for a database that is not an lseprof run store."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def _record(self, row: Sequence[Any]) -> RunRecord:
        return record_from_row(row)

    def _stamp(self, value: Any) -> str:
        """A ``created_at`` value as read from the database, as stored text."""
        return str(value)

    # -- shared

    def _check_version(self, version: int) -> None:
        if version < 0:
            raise self._not_a_store("its meta table has no valid schema_version")
        if version > SCHEMA_VERSION:
            raise LseprofError(
                f"the run store at {self.location} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this lseprof knows: it is incompatible with this version "
                "of lseprof; upgrade lseprof"
            )

    def add(self, record: RunRecord) -> None:
        """Store one run; nothing is written if it fails."""
        self.add_many([record])

    def add_many(self, records: Iterable[RunRecord]) -> None:
        """Store several runs in one transaction: all of them or none."""
        rows = [record_to_row(r) for r in records]
        try:
            self._insert_rows(rows)
        except DuplicateRunId:
            dupes = self._existing([str(row[0]) for row in rows])
            which = ", ".join(repr(d) for d in dupes) or "a run id given twice"
            raise LseprofError(
                f"run {which} is already in the store at {self.location}; use a new run id",
                EXIT_FAILED,
            ) from None

    def _existing(self, run_ids: list[str]) -> list[str]:
        return [rid for rid in dict.fromkeys(run_ids) if self._rows(self._sql.get, (rid,))]

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[RunRecord]:
        return [self._record(row) for row in self._rows(sql, params)]

    def _unknown(self, ident: str) -> LseprofError:
        return LseprofError(
            f"no run or group '{ident}' in store {self.location}; list them with `lseprof runs`"
        )

    def get(self, run_id: str) -> RunRecord:
        """The run with this id."""
        found = self._query(self._sql.get, (run_id,))
        if not found:
            raise self._unknown(run_id)
        return found[0]

    def group(self, group_id: str) -> list[RunRecord]:
        """The runs of one group, oldest first."""
        found = self._query(self._sql.group, (group_id,))
        if not found:
            raise self._unknown(group_id)
        return found

    def resolve(self, ident: str) -> list[RunRecord]:
        """The runs named by ``ident``: a run id gives that run, a group id the group's.

        A unique prefix (at least :data:`MIN_PREFIX` characters) of a run or group
        id works too, as ``lseprof runs`` shows shortened ids in narrow terminals.
        """
        found = self._query(self._sql.get, (ident,))
        if found:
            return found
        found = self._query(self._sql.group, (ident,))
        if found or len(ident) < MIN_PREFIX:
            return found or self.group(ident)
        run_ids = [r[0] for r in self._rows(self._sql.run_prefix, (len(ident), ident))]
        group_ids = [r[0] for r in self._rows(self._sql.group_prefix, (len(ident), ident))]
        if len(run_ids) + len(group_ids) > 1:
            raise LseprofError(
                f"'{ident}' is the start of several run or group ids in store {self.location}; "
                "give more of it"
            )
        if run_ids:
            return [self.get(run_ids[0])]
        if group_ids:
            return self.group(group_ids[0])
        raise self._unknown(ident)

    def runs(self, limit: int | None = None, workload: str | None = None) -> list[RunRecord]:
        """Stored runs, newest first, optionally only one workload's and at most ``limit``."""
        sql, params = self._sql.runs, list[Any]()
        if workload is not None:
            sql += self._sql.runs_workload
            params.append(workload)
        sql += self._sql.runs_order
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            sql += self._sql.runs_limit
            params.append(limit)
        return self._query(sql, params)

    def groups(self) -> list[GroupSummary]:
        """One summary per group, the group with the newest run first."""
        workloads: dict[str, list[str]] = {}
        for gid, workload in self._rows(self._sql.group_workloads):
            workloads.setdefault(gid, []).append(workload)
        return [
            GroupSummary(
                gid,
                int(count),
                int(ok or 0),
                self._stamp(first),
                self._stamp(last),
                workloads.get(gid, []),
            )
            for gid, count, ok, first, last in self._rows(self._sql.groups)
        ]

    def to_dataframe(self) -> pd.DataFrame:
        """All runs, newest first, one column per :meth:`RunRecord.to_dict` key.

        ``created_at`` becomes a timezone-aware (UTC) datetime column.
        """
        import pandas as pd

        records = self.runs()
        columns = list(RunRecord("", "", "ok").to_dict())
        frame = pd.DataFrame([r.to_dict() for r in records], columns=columns)
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        return frame

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
