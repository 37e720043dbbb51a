"""Time the bootstrap against a single fit of the same data.

Per case the data are simulated once (bench/model_bench.py's generator) and every measurement
runs in a fresh subprocess:

* single    : ``model.fit(df).to_dict()`` (median of 5 after a warm-up)
* bootstrap : ``model.fit(df, bootstrap=B, seed=1).to_dict()`` on 2 worker processes: wall
              time, CPU time of the parent and its workers, and the per-draw wall time

Targets (issue 14): 1,000 draws at N = 250 and at N = 10,000 (complete data) under 15 s on a
2-core machine. The FIML row (6% of answers blank) has no target. The 1-minute load average is
printed with each row: the machine is shared, and a load above 2 slows every figure.
Run from the repo root: .venv/bin/python bench/bootstrap_bench.py [--draws 1000] [--fiml-draws 1000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_bench import simulate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 15.0

CHILD = r"""
import json, resource, statistics, sys, time
import pandas as pd
from model import fit
path, draws, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
df = pd.read_csv(path)
fit(df).to_dict()                                   # warm-up: lazy imports, caches
times = []
for _ in range(5):
    t0 = time.perf_counter(); fit(df).to_dict(); times.append(time.perf_counter() - t0)
c0 = time.process_time(); t0 = time.perf_counter()
d = fit(df, bootstrap=draws, seed=1, workers=workers).to_dict()
wall = time.perf_counter() - t0
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - c0 + kids.ru_utime + kids.ru_stime
print(json.dumps({"single": statistics.median(times), "wall": wall, "cpu": cpu,
                  "failed": d["bootstrap"]["failed"], "method": d["missing_method"],
                  "complete": d["n_used"]}))
"""


def measure(path: Path, draws: int, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(draws), str(workers)],
                         capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--fiml-draws", type=int, default=1000, help="draws of the FIML row (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    cases = [(250, 0.0, args.draws), (10_000, 0.0, args.draws)]
    if args.fiml_draws:
        cases.append((250, 0.06, args.fiml_draws))
    print(f"{'case':>22} | {'single fit':>10} | {'draws':>5} {'bootstrap':>10} {'per draw':>9} "
          f"{'CPU':>8} {'ratio':>7} | {'failed':>6} | load")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for n, blank, draws in cases:
            path = Path(tmp) / f"csi_{n}_{blank}.csv"
            simulate(n, blank=blank).to_csv(path, index=False)
            r = measure(path, draws, args.workers)
            label = f"N={n:,}" + (f", {blank:.0%} blank (FIML)" if blank else "")
            print(f"{label:>22} | {r['single']:>9.3f}s | {draws:>5} {r['wall']:>9.2f}s "
                  f"{1000 * r['wall'] / draws:>7.1f}ms {r['cpu']:>7.1f}s {r['wall'] / r['single']:>6.0f}x | "
                  f"{r['failed']:>6} | {os.getloadavg()[0]:.1f}")
            if not blank and draws >= 1000:
                ok &= r["wall"] < TARGET_S
    print(f"target (1,000 draws, complete data, < {TARGET_S:.0f} s at N = 250 and 10,000):",
          "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
