"""The audit log of manager actions: record one event (its own session and transaction, so it is stored
whatever the request's unit of work does), list a page of them, iterate them all for the CSV export."""
import csv
import io
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from survey.services.exporting import csv_cell
from survey.storage.db import write_transaction
from survey.storage.tables import AuditEvent

PAGE_SIZE = 50
COLUMNS = ("id", "at", "email", "action", "target", "detail", "address")


def record(session: Session, action: str, *, manager=None, email: str = "", target: str = "", detail: str = "",
           address: str = "") -> None:
    """Append one event (strings cut to their column's size)."""
    with Session(session.get_bind()) as own:
        with write_transaction(own):
            own.add(AuditEvent(
                manager_id=getattr(manager, "id", None), email=(email or getattr(manager, "email", "") or "")[:254],
                action=action[:40], target=(target or "")[:200], detail=(detail or "")[:500],
                address=(address or "")[:64],
            ))


def list_events(session: Session, page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[AuditEvent], bool]:
    """One page of events, newest first, and whether an older page follows."""
    page = max(1, page)
    rows = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())
                                .offset((page - 1) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


def csv_export(session: Session, batch: int = 1000) -> Iterator[str]:
    """Every event, oldest first, as CSV text chunks (formula-looking cells neutralized)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # Excel reads the UTF-8 then
    writer.writerow(COLUMNS)
    last = 0
    while True:
        rows = list(session.scalars(sa.select(AuditEvent).where(AuditEvent.id > last)
                                    .order_by(AuditEvent.id).limit(batch)))
        for row in rows:
            writer.writerow([csv_cell(value) for value in (
                row.id, row.at.isoformat(), row.email, row.action, row.target, row.detail, row.address)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        last = rows[-1].id
