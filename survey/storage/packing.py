"""A compact copy of each response's coded answers, so 1,000,000 responses load into pandas in seconds.

The `answer` table is the record (exports, API). Because responses are append-only, each response row also
carries `packed`: its non-text answers as little-endian (question id int32, code int16) pairs, written in the
same INSERT and never changed. Codes: scale value (-1 = don't know), option index for choice / yes-no, bit mask
of option indexes for multi. Keyed by question id, so adding or dropping items never invalidates old rows.
"""
import numpy as np

from survey.storage.tables import MULTI, SCALE, TEXT

PACK_DTYPE = np.dtype([("q", "<i4"), ("v", "<i2")])
DONT_KNOW_CODE = -1


def answer_code(kind: str, options: tuple, value, text):
    """Return the int16 code of one stored answer, or None for text answers (not packed)."""
    if kind == TEXT:
        return None
    if kind == SCALE:
        return DONT_KNOW_CODE if value is None else int(value)
    if kind == MULTI:
        chosen = set(text.split(";")) if text else set()
        return sum(1 << i for i, option in enumerate(options) if option in chosen)
    return options.index(text) if text in options else None


def pack(pairs) -> bytes:
    """Pack (question id, code) pairs into the bytes stored in response.packed."""
    pairs = list(pairs)
    return np.array(pairs, dtype=PACK_DTYPE).tobytes() if pairs else b""


def unpack(blobs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (row index, question id, code) arrays for a sequence of packed blobs (None counts as empty)."""
    if any(b is None for b in blobs):
        blobs = [b"" if b is None else b for b in blobs]
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // PACK_DTYPE.itemsize
    pairs = np.frombuffer(b"".join(blobs), dtype=PACK_DTYPE)
    rows = np.repeat(np.arange(len(blobs), dtype=np.int64), lengths)
    return rows, pairs["q"].astype(np.int64), pairs["v"].astype(np.int64)


def pack_matrix(question_ids, codes) -> list[bytes]:
    """Pack a whole block at once (bulk loaders): codes is an (n responses x k questions) integer array whose
    columns follow question_ids; entries below -1 mean unanswered and are left out."""
    codes = np.asarray(codes, dtype=np.int64)
    pairs = np.empty(codes.shape, dtype=PACK_DTYPE)
    pairs["q"] = np.asarray(question_ids, dtype=np.int32)[None, :]
    pairs["v"] = np.clip(codes, -32768, 32767)
    present = codes >= DONT_KNOW_CODE
    if present.all():
        return [row.tobytes() for row in pairs]
    return [row[mask].tobytes() for row, mask in zip(pairs, present)]
