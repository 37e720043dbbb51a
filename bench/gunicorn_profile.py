"""gunicorn config for abuse_bench --profile DIR: each worker runs under cProfile (CPU time) and times every
request (wall and CPU, by path and status); both are written to DIR when the worker exits."""
import cProfile
import json
import os
import time

FOLDER = os.environ["CSI_BENCH_PROFILE"]


def post_worker_init(worker):
    worker.csi_profile = cProfile.Profile(time.process_time)
    worker.csi_requests = []
    worker.csi_profile.enable()


def pre_request(worker, req):
    worker.csi_started = (time.perf_counter(), time.process_time())


def post_request(worker, req, environ, resp):
    wall, cpu = worker.csi_started
    status = int(str(resp.status).split()[0]) if resp.status else 0
    worker.csi_requests.append((req.method + " " + req.path, status, time.perf_counter() - wall,
                                time.process_time() - cpu))


def worker_exit(server, worker):
    profile = getattr(worker, "csi_profile", None)
    if profile is None:
        return
    profile.disable()
    profile.dump_stats(os.path.join(FOLDER, f"worker-{os.getpid()}.pstats"))
    with open(os.path.join(FOLDER, f"worker-{os.getpid()}.json"), "w") as out:
        json.dump(worker.csi_requests, out)
