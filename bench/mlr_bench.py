"""Time fit(estimator="mlr") beside fit(estimator="ml") and a bare semopy fit of the same data.

Same data and child-process protocol as bench/model_bench.py (simulated 1..10 answers written to
a CSV; each measurement in a fresh subprocess; in-memory fit time, wall and CPU, medians over
repeats for small N; peak RSS). On a loaded machine the CPU ratio is the steadier one.
Target (issue 14): ML and MLR ≤ 1.5× bare semopy at every N. A last row (not a target) repeats
1,000,000 rows with 2% blank answers, where ML and MLR run FIML.
Run from the repo root: .venv/bin/python bench/mlr_bench.py [--sizes 250 10000 1000000]
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_bench  # noqa: E402
from model_bench import REPEATS, simulate  # noqa: E402

CHILD = r"""
import json, resource, statistics, sys, time, warnings
import pandas as pd
path, kind, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
warnings.simplefilter("ignore")
df = pd.read_csv(path)
if kind == "bare":
    import logging, semopy
    from threadpoolctl import threadpool_limits
    from model import CSISpec
    logging.disable(logging.CRITICAL)
    def run():
        with threadpool_limits(limits=1, user_api="blas"):
            semopy.Model(CSISpec.from_columns(df.columns).to_syntax()).fit(df)
else:
    from model import fit
    def run():
        fit(df, estimator=kind).to_dict()
times, cpu = [], []
for i in range(repeats + (1 if repeats > 1 else 0)):
    t0, c0 = time.perf_counter(), time.process_time(); run(); t1, c1 = time.perf_counter(), time.process_time()
    if repeats > 1 and i == 0:
        continue
    times.append(t1 - t0); cpu.append(c1 - c0)
print(json.dumps({"fit": statistics.median(times), "cpu": statistics.median(cpu),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(path, kind, repeats):
    return model_bench.measure(path, kind, repeats, child=CHILD)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 10_000, 1_000_000])
    parser.add_argument("--blank-n", type=int, default=1_000_000, help="rows of the 2%%-blank case (0: skip)")
    args = parser.parse_args(argv)
    print(f"{'N':>24} | {'bare':>8} {'ML':>8} {'MLR':>8} | {'ML/bare':>7} {'MLR/bare':>8} | "
          f"{'CPU ML/bare':>11} {'MLR/bare':>8} | {'bare MB':>7} {'ML MB':>6} {'MLR MB':>6}")
    ok = True
    cases = [(n, 0.0) for n in args.sizes] + ([(args.blank_n, 0.02)] if args.blank_n else [])
    with tempfile.TemporaryDirectory() as tmp:
        for n, blank in cases:
            path = Path(tmp) / f"csi_{n}_{blank}.csv"
            simulate(n, blank=blank).to_csv(path, index=False)
            repeats = REPEATS.get(n, 1)
            bare, ml, mlr = (measure(path, kind, repeats) for kind in ("bare", "ml", "mlr"))
            r_ml, r_mlr = ml["fit"] / bare["fit"], mlr["fit"] / bare["fit"]
            label = f"{n:,}" + (" 2% blank (FIML)" if blank else "")
            print(f"{label:>24} | {bare['fit']:>7.3f}s {ml['fit']:>7.3f}s {mlr['fit']:>7.3f}s | "
                  f"{r_ml:>6.2f}x {r_mlr:>7.2f}x | {ml['cpu'] / bare['cpu']:>10.2f}x "
                  f"{mlr['cpu'] / bare['cpu']:>7.2f}x | {bare['peak_mb']:>7.0f} {ml['peak_mb']:>6.0f} "
                  f"{mlr['peak_mb']:>6.0f}")
            if not blank:
                ok &= r_ml <= 1.5 and r_mlr <= 1.5
            path.unlink()
    print("target (ML and MLR <= 1.5x bare semopy at every N):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
