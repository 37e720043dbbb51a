"""Fits in threads (a web worker runs reports in threads) must not touch process-wide state:
warnings filters, the root logger, or the process-wide BLAS thread count."""
import logging
import threading
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from model import fit

from conftest import simulate


def _blas_threads():
    return sorted((i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")


def test_concurrent_fits_leave_process_state_alone(rng):
    frames = [simulate(np.random.default_rng(seed), 150)[0] for seed in range(4)]
    frames[1] = frames[1].mask(np.random.default_rng(9).random(frames[1].shape) < 0.05)  # FIML
    expected = [fit(frame).fit["chi2"] for frame in frames]
    filters, root = list(warnings.filters), logging.getLogger()
    handlers, root_filters, blas = list(root.handlers), list(root.filters), _blas_threads()
    changes, results, errors = [], {}, []
    running = threading.Event()
    done = threading.Event()

    def watch():
        running.wait()
        while not done.is_set():
            if warnings.filters != filters:
                changes.append("warnings filters")
            if root.handlers != handlers or root.filters != root_filters:
                changes.append("root logger")

    def work(k):
        running.set()
        try:
            for _ in range(2):
                results.setdefault(k, []).append(fit(frames[k]).fit["chi2"])
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    watcher = threading.Thread(target=watch)
    workers = [threading.Thread(target=work, args=(k,)) for k in range(len(frames))]
    watcher.start()
    for w in workers:
        w.start()
    mid = None
    for w in workers:
        w.join(timeout=0.01)
        mid = mid or _blas_threads()
    for w in workers:
        w.join()
    done.set()
    watcher.join()
    assert not errors
    assert not changes, sorted(set(changes))
    assert mid == blas and _blas_threads() == blas  # BLAS limited per thread, never process-wide
    for k, chi2 in enumerate(expected):
        assert results[k] == pytest.approx([chi2, chi2], abs=1e-9)
