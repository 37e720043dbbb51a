"""kill -9 under load and a 10-way token race, against real gunicorn servers on SQLite and PostgreSQL.

The same code as bench/fault_bench.py, run small: every acknowledged response must be stored after workers and
then the whole server were killed with SIGKILL mid-load, and each invitation token must be accepted and stored
exactly once however many posts race for it.
"""
import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fault_bench  # noqa: E402
import submit_bench  # noqa: E402

ARGS = argparse.Namespace(rounds=1, seconds=5.0, clients=2, workers=2, threads=1, tokens=3, racers=10,
                          kill_every=1.0)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fault.sqlite3"
        return
    url = submit_bench.create_pg_database()
    if url is None:
        pytest.fail("PostgreSQL at 127.0.0.1:5432 is not reachable (the tests run against both databases)")
    yield url
    submit_bench.drop_pg_database(url)


def test_kill_minus_nine_loses_no_acknowledged_response_and_tokens_are_single_use(database_url, tmp_path):
    with open(tmp_path / "gunicorn.log", "w") as log:
        figures = fault_bench.run_backend("test", database_url, ARGS, log)
    assert figures["kills"] >= 3  # workers were really killed, and then the server
    assert figures["acknowledged"] > 0, figures
    assert figures["lost"] == 0, figures
    assert figures["stored"] >= figures["acknowledged"]
    assert figures["tokens_accepted_once"] == ARGS.tokens and figures["tokens_accepted_more_than_once"] == 0
    assert figures["tokens_stored_once"] == ARGS.tokens and figures["tokens_stored_more_than_once"] == 0
    # every other racer got the "already used" answer, none an error
    assert figures["race_statuses"] == {302: ARGS.tokens, 409: ARGS.tokens * (ARGS.racers - 1)}
