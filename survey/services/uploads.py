"""Uploaded files to import: kept in the database, previewed for the mapping page, imported by a job.

The file lives in the ``upload`` table (at most UPLOAD_MAX_BYTES; a .csv.gz is kept compressed), so the import
job can run on any worker of any machine; the only file on disk is a temporary unpacked copy (prefix
``csi-upload-``), removed when the reading or the job ends, and swept after KEEP if its process died. The
import itself is services.importing.import_chunks (the file read in chunks twice: check, then write; all
or nothing). Progress: on PostgreSQL the job
writes it from a second connection, so every server sees it; on SQLite the import holds the only write
lock, so progress is kept in this process (where SQLite's in-process jobs run).
"""
from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import threading
import time
import zlib
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import object_session

from model import DataError, read_table, read_table_chunks
from model.io import MAX_UNPACKED_BYTES

from survey import jobs
from survey.exceptions import ImportRejected, Problem
from survey.services import importing
from survey.storage.db import db, write_transaction
from survey.storage.tables import Upload, utcnow

SUFFIXES = (".csv", ".txt", ".xlsx")
GZIP = ".gz"  # a gzip-compressed CSV (name.csv.gz), unpacked within MAX_UNPACKED_BYTES
TEMP_PREFIX = "csi-upload-"
PIECE_BYTES = 4 * 2**20  # the stored file is read out of the database this much at a time
CHUNK_ROWS = importing.IMPORT_BLOCK  # rows the import job holds in memory at a time (~25 MB of text cells)
KEEP = timedelta(days=1)
PREVIEW_ROWS = 200
IMPORT_JOB = "survey.services.uploads:import_job"
_PROGRESS: dict[int, tuple[int, int]] = {}
_PROGRESS_LOCK = threading.Lock()


def _suffix(filename: str) -> str:
    path = Path(filename.lower())
    suffix = Path(path.stem).suffix if path.suffix == GZIP else path.suffix
    return suffix if suffix in SUFFIXES else ".csv"


def _own_name(message: str, temporary: str, filename: str) -> str:
    """The message with the temporary copy's path (and bare name) replaced by the manager's file name."""
    shown = Path(filename).name or "the uploaded file"
    return message.replace(temporary, shown).replace(Path(temporary).name, shown)


def _too_big(filename: str) -> DataError:
    return DataError(f"{Path(filename).name or 'the uploaded file'} would unpack to more than "
                     f"{MAX_UNPACKED_BYTES / 2**20:,.0f} MB; split it into smaller files")


@contextlib.contextmanager
def temporary_folder():
    """A folder for an upload's unpacked copy, removed on leaving, however the block ends."""
    folder = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_copy(folder: Path, content, filename: str) -> str:
    """Write the upload (bytes, or an iterable of byte pieces) into folder, a .gz unpacked; return its path.

    A .gz is unpacked a megabyte at a time and refused as soon as it passes MAX_UNPACKED_BYTES, so a gzip
    bomb costs at most that much disk and a second, never memory.

    :raise DataError: not gzip, or over the cap.
    """
    pieces = [content] if isinstance(content, (bytes, bytearray, memoryview)) else content
    path = folder / f"upload{_suffix(filename)}"
    with open(path, "wb") as out:
        if filename.lower().endswith(GZIP):
            _gunzip(pieces, out, filename)
        else:
            for piece in pieces:
                out.write(piece)
    return str(path)


def stored_pieces(upload: Upload, size: int = PIECE_BYTES):
    """The stored file, ``size`` bytes at a time, straight from the database.

    Loading the whole column costs several times its size at once (PostgreSQL sends bytea as hex text,
    which the driver decodes): a 70 MB file took ~350 MB. Piece by piece it costs a few megabytes.
    """
    session = object_session(upload)
    length = session.scalar(sa.select(sa.func.length(Upload.content)).where(Upload.id == upload.id)) or 0
    for start in range(1, length + 1, size):
        yield session.scalar(sa.select(sa.func.substr(Upload.content, start, size)).where(Upload.id == upload.id))


def _gunzip(pieces, out, filename: str) -> None:
    inflate, written, step = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, 1 << 20
    try:
        for whole in pieces:
            view = memoryview(whole)
            for start in range(0, len(view), step):
                piece = view[start:start + step]
                while piece and not inflate.eof:  # max_length: never more than a megabyte unpacked per call
                    part = inflate.decompress(piece, step)
                    written += len(part)
                    if written > MAX_UNPACKED_BYTES:
                        raise _too_big(filename)
                    out.write(part)
                    piece = inflate.unconsumed_tail
        if not inflate.eof:
            raise DataError(f"{Path(filename).name} is not a complete gzip file; compress it again")
    except zlib.error:
        raise DataError(f"{Path(filename).name} is not a gzip file; upload the CSV itself "
                        "or compress it with gzip") from None


def sweep_temporary(older_than: timedelta = KEEP) -> int:
    """Remove unpacked copies left by a process that died mid-job; return how many went."""
    cutoff, gone = time.time() - older_than.total_seconds(), 0
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder)
                gone += 1
    return gone


def _readable(read, path: str, filename: str):
    """Run read(); its messages name the manager's file, never the temporary copy, also when the parser
    fails in a way model.io does not anticipate (a workbook with broken XML)."""
    try:
        return read()
    except DataError as err:
        raise DataError(_own_name(str(err), path, filename)) from None
    except Exception as err:  # a malformed file is bad input, not a server error
        reason = _own_name(str(err).splitlines()[0] if str(err) else type(err).__name__, path, filename)
        raise DataError(f"{Path(filename).name or 'the uploaded file'} is not a readable table ({reason}); "
                        "save it as UTF-8 CSV or as an .xlsx workbook") from None


def read_content(content, filename: str, **kwargs):
    """Read stored bytes as a table through a temporary file (removed at once).

    :raise DataError: unreadable; the message names the manager's file.
    """
    with temporary_folder() as folder:
        path = write_copy(folder, content, filename)
        return _readable(lambda: read_table(path, **kwargs), path, filename)


def _chunks(path: str, filename: str):
    """The file's rows CHUNK_ROWS at a time; read errors as DataError naming the manager's file."""
    reader = read_table_chunks(path, chunksize=CHUNK_ROWS)
    while True:
        chunk = _readable(lambda: next(reader, None), path, filename)
        if chunk is None:
            return
        yield chunk


def create_upload(session, *, manager, filename: str, content: bytes, title: str, scale) -> Upload:
    """Check the file is a readable table within the caps and keep it for the mapping step.

    :raise DataError: unreadable, empty, binary or over a cap; nothing is kept.
    """
    read_content(content, filename, nrows=50)
    with write_transaction(session):
        session.execute(sa.delete(Upload).where(Upload.created_at < utcnow() - KEEP))
        sweep_temporary()
        upload = Upload(token=secrets.token_hex(16), manager_id=getattr(manager, "id", None), title=title[:200],
                        scale_min=scale[0], scale_max=scale[1], filename=Path(filename).name[:255],
                        content=content, status="mapping")
        session.add(upload)
    return upload


def get_upload(session, token: str, manager) -> Upload | None:
    """The manager's upload with this token, or None (unknown, someone else's, or expired)."""
    if not token.isalnum():
        return None
    upload = session.scalar(sa.select(Upload).where(Upload.token == token))
    if upload is None or upload.manager_id != getattr(manager, "id", None):
        return None
    return upload


def preview(upload: Upload):
    """The first PREVIEW_ROWS rows (the mapping page's columns and sample values)."""
    return read_content(stored_pieces(upload), upload.filename, nrows=PREVIEW_ROWS)


def problems_of(upload: Upload) -> tuple[list[Problem], int]:
    """The problems the last import attempt found, and how many there were in all."""
    found = upload.problems or {}
    return [Problem(**p) for p in found.get("items", [])], int(found.get("total", 0))


def start_import(session, upload: Upload, mapping: dict[str, str]) -> None:
    """Queue the import of an upload under this mapping (the job checks it again on the whole file)."""
    with write_transaction(session):
        upload.mapping, upload.status, upload.problems, upload.error = dict(mapping), "queued", None, None
        upload.done_rows, upload.total_rows = 0, None
    jobs.enqueue(IMPORT_JOB, upload.id)


def progress(upload: Upload) -> tuple[int, int | None]:
    """(rows done, rows in all or None) of an import under way."""
    with _PROGRESS_LOCK:
        known = _PROGRESS.get(upload.id)
    return known if known is not None else (upload.done_rows, upload.total_rows)


def _reporter(upload_id: int):
    """A progress callback: a second connection on PostgreSQL (visible everywhere), memory on SQLite."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        def report(done, total):
            with _PROGRESS_LOCK:
                _PROGRESS[upload_id] = (done, total)
        return report

    def report(done, total):
        with engine.begin() as conn:
            conn.execute(sa.update(Upload).where(Upload.id == upload_id).values(done_rows=done, total_rows=total))
    return report


def import_job(upload_id: int) -> None:
    """The job: import the file in chunks under the stored mapping, record the outcome (app context)."""
    session = db.session
    upload = session.get(Upload, upload_id)
    if upload is None or upload.status != "queued":
        return  # already handled (a retried job) or expired
    with write_transaction(session):
        upload.status = "importing"
    try:
        with temporary_folder() as folder:
            path = write_copy(folder, stored_pieces(upload), upload.filename)
            survey = importing.import_chunks(session, lambda: _chunks(path, upload.filename), upload.mapping,
                                             title=upload.title, scale=(upload.scale_min, upload.scale_max),
                                             created_by=SimpleNamespace(id=upload.manager_id),
                                             progress=_reporter(upload_id))
    except ImportRejected as err:
        with write_transaction(session):
            upload.status = "mapping"
            upload.problems = {"items": [asdict(p) for p in err.problems], "total": err.total}
    except DataError as err:
        with write_transaction(session):
            upload.status, upload.error = "failed", str(err)
    except Exception as err:
        session.rollback()
        with write_transaction(session):
            upload.status, upload.error = "failed", f"{type(err).__name__}: {err}"[:2000]
        raise
    else:
        with write_transaction(session):
            upload.status, upload.survey_slug, upload.content = "done", survey.slug, None
    finally:
        with _PROGRESS_LOCK:
            _PROGRESS.pop(upload_id, None)
