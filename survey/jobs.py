"""Background jobs: on an RQ queue in Redis when ``REDIS_URL`` is set, else on a small thread pool in this process.

The same job function runs either way (``enqueue("survey.report.cache:refresh_job", ...)``); it always runs
inside an app context. With Redis, ``flask --app survey worker`` processes the queue (start one per core,
on as many machines as share the database and Redis). Deduplication and retries are not the queue's job:
callers claim the work in the database first (see survey.report.cache), so a job lost with its worker is
simply claimed again once the claim expires. If Redis cannot be reached, the job runs in-process instead of
failing the request.

Jobs go to one of two lanes: ``fast`` (a report's point estimates, an upload) and ``slow`` (a report's
second pass: bootstrap intervals and group comparisons, which can take minutes). In-process each lane has
its own threads; on Redis the slow lane is its own queue (``<JOB_QUEUE>-slow``), and a worker takes fast
jobs first, so a long bootstrap never holds up the point estimates of another view.
"""
from __future__ import annotations

import importlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import current_app

log = logging.getLogger(__name__)

QUEUE = "csi"
LANES = {"fast": 2, "slow": 1}  # lane -> threads of the in-process pool
_POOLS: dict[str, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()
_RUNNING: set[Future] = set()
_PENDING: set[str] = set()  # in-process coalesced jobs queued and not started yet
PENDING_TTL = 300  # seconds a coalescing key lives in Redis if its job never starts (a lost worker)


def _resolve(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_in_app(path: str, *args):
    """Run the job function at ``path`` ("module:function") with args inside an app context.

    In an RQ worker the command has already pushed the app context; in the thread pool it is pushed here.
    """
    return _resolve(path)(*args)


def _pool(lane: str = "fast") -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if lane not in _POOLS:
            prefix = "csi-job" if lane == "fast" else f"csi-job-{lane}"
            _POOLS[lane] = ThreadPoolExecutor(max_workers=LANES[lane], thread_name_prefix=prefix)
        return _POOLS[lane]


def _in_process(app, path: str, args: tuple, lane: str = "fast") -> None:
    def run():
        with app.app_context():
            try:
                run_in_app(path, *args)
            except Exception:  # the job records its own failure; this keeps the pool alive
                log.exception("job %s failed", path)

    future = _pool(lane).submit(run)
    with _POOL_LOCK:
        _RUNNING.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future) -> None:
    with _POOL_LOCK:
        _RUNNING.discard(future)


def drain(timeout: float = 60) -> bool:
    """Wait for this process's in-process jobs to finish; return whether they all did (tests, shutdown)."""
    with _POOL_LOCK:
        running = set(_RUNNING)
    return not wait(running, timeout=timeout).not_done


def redis_connection(url: str | None = None):
    """A Redis client for ``REDIS_URL`` (or ``url``), or None when none is configured."""
    url = url or current_app.config.get("REDIS_URL")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def queue_name(lane: str = "fast") -> str:
    """The RQ queue of a lane: ``JOB_QUEUE`` for fast jobs, ``JOB_QUEUE-slow`` for slow ones."""
    name = current_app.config.get("JOB_QUEUE", QUEUE)
    return name if lane == "fast" else f"{name}-{lane}"


def queue(connection=None, lane: str = "fast"):
    """The RQ queue of a lane (name from ``JOB_QUEUE``), or None without Redis."""
    connection = connection or redis_connection()
    if connection is None:
        return None
    from rq import Queue

    return Queue(queue_name(lane), connection=connection)


def enqueue(path: str, *args, timeout: int = 1800, lane: str = "fast") -> str:
    """Run ``path(*args)`` in the background on a lane ("fast" or "slow"); return where it went: "queue"
    or "process"."""
    if lane not in LANES:
        raise ValueError(f"unknown job lane {lane!r}")
    app = current_app._get_current_object()
    q = queue(lane=lane)
    if q is not None:
        try:
            q.enqueue(run_in_app, path, *args, job_timeout=timeout, result_ttl=60, failure_ttl=3600)
            return "queue"
        except Exception as err:  # Redis down or restarting: keep serving, compute here
            log.warning("queue unavailable (%s); running %s in-process", err, path)
    _in_process(app, path, args, lane)
    return "process"


def enqueue_coalesced(key: str, path: str, *args) -> bool:
    """Like ``enqueue``, but at most one job per ``key`` waits to start at any time; return whether one was queued.

    For idempotent catch-up jobs (a case sweep after each submission): a job that has not started yet will see
    everything committed before it starts, so a second one would only repeat it. The job clears its key as it
    starts, so work committed while it runs queues the next one.
    """
    connection = redis_connection()
    if connection is not None:
        try:
            if not connection.set(f"csi:pending:{key}", 1, nx=True, ex=PENDING_TTL):
                return False
        except Exception as err:
            log.warning("queue unavailable (%s); coalescing %s in this process", err, key)
        else:
            enqueue("survey.jobs:run_coalesced", key, path, *args)
            return True
    with _POOL_LOCK:
        if key in _PENDING:
            return False
        _PENDING.add(key)
    _in_process(current_app._get_current_object(), "survey.jobs:run_coalesced", (key, path, *args))
    return True


def run_coalesced(key: str, path: str, *args):
    """Clear the job's coalescing key, then run it (the job function of ``enqueue_coalesced``)."""
    with _POOL_LOCK:
        _PENDING.discard(key)
    connection = redis_connection()
    if connection is not None:
        try:
            connection.delete(f"csi:pending:{key}")
        except Exception:  # the key expires by itself
            pass
    return run_in_app(path, *args)


def work(burst: bool = False) -> None:
    """Process the queue until stopped (``burst``: until it is empty); called by ``flask --app survey worker``."""
    from rq import Worker

    connection = redis_connection()
    if connection is None:
        raise RuntimeError("REDIS_URL is not set: without a queue, jobs run inside the web process")
    queues = [queue(connection, lane) for lane in LANES]  # in order: fast jobs first
    Worker(queues, connection=connection).work(burst=burst, with_scheduler=False)
