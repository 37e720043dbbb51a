"""Command line: ``python -m model fit DATA.csv [--map MAP.json] [--scale-min 1 --scale-max 10]
[--missing fiml|listwise] [--estimator ml|mlr|pls] [--model acsi|ecsi|ccsi] [--group COLUMN]
[--bootstrap B --seed S] [--what-if LEVER=CHANGE[,LEVER=CHANGE] ...] [--json OUT.json]
[--csv OUT.csv]``.

Bad input gives one line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .decision import parse_change, what_if
from .exceptions import ModelError, silenced
from .fit import ESTIMATORS, fit
from .io import neutralize, read_table
from .spec import VARIANTS, CSISpec

EXIT_BAD_INPUT = 2
ROBUST_FIT = ("chi2_scaled", "scaling_factor", "p_value_scaled", "cfi_robust", "tli_robust", "rmsea_robust")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line, like every other bad input."""

    def error(self, message):
        raise ModelError(f"{message} (see python -m model fit --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m model", description="Customer satisfaction index (CSI) model.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("fit", help="fit the CSI model to a CSV of survey answers")
    cmd.error = parser.error
    cmd.add_argument("data", help="CSV (or .xlsx) file, one respondent per row")
    cmd.add_argument("--map", help='JSON mapping {"CE": ["q1", ...], ...}; default: column prefixes')
    cmd.add_argument("--scale-min", type=float, default=1.0, help="lowest answer (default 1)")
    cmd.add_argument("--scale-max", type=float, default=10.0, help="highest answer (default 10)")
    cmd.add_argument("--missing", choices=("fiml", "listwise"), default="fiml",
                     help="missing answers: full-information ML (default) or listwise deletion")
    cmd.add_argument("--estimator", choices=ESTIMATORS, default="ml",
                     help="ml: maximum likelihood (default); mlr: ML estimates with robust SEs and "
                          "scaled chi2 (lavaan estimator='MLR'); pls: PLS path modelling as ACSI/SmartPLS")
    cmd.add_argument("--model", choices=tuple(VARIANTS), default="acsi",
                     help="acsi: ACSI's six constructs (default); ecsi: adds corporate image IM "
                          "(IM -> CE, CS, CL); ccsi: Chinese CSI, brand image IM and no complaints CC")
    cmd.add_argument("--group", metavar="COLUMN",
                     help="compare the groups in this column: invariance tests and group indices")
    cmd.add_argument("--bootstrap", type=int, default=0, metavar="B",
                     help="bootstrap draws for percentile 95%% intervals (default 0: none)")
    cmd.add_argument("--seed", type=int, default=None, metavar="S",
                     help="bootstrap seed (same seed, same numbers; default: drawn and reported)")
    cmd.add_argument("--what-if", action="append", default=[], metavar="LEVER=CHANGE",
                     help="predict the CS and CL change if a lever (PQ, PV or one of their items) "
                          "changed by CHANGE index points (0-100), e.g. PQ2=+5; several levers in one "
                          "scenario: PQ2=+5,PV1=+3; repeat the option for more scenarios")
    cmd.add_argument("--json", help="write the full result as JSON to this file")
    cmd.add_argument("--csv", help="write a flat table of estimates and scores to this file")
    return parser


def _load_map(path: str, model: str = "acsi") -> CSISpec:
    try:
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path} is not valid JSON ({err}); write it like "
                         '{"CE": ["q1", "q2"], "PQ": [...], ...}') from None
    return CSISpec.from_mapping(mapping, model)


def flat_rows(result) -> list[dict]:
    """One row per number: section, name, statistic, value (for spreadsheets)."""
    d = result.to_dict()
    rows = [("fit", key, "value", d["fit"][key]) for key in ("chi2", "df", "p_value", "cfi", "tli",
                                                             "rmsea", "srmr") + ROBUST_FIT
            if key in d["fit"]]
    for code, c in d["constructs"].items():
        for key in ("index", "r2", "alpha", "cr", "ave"):
            rows.append(("construct", code, key, c[key]))
        rows += [("construct", code, "index_ci_lower", c["index_ci"][0]),
                 ("construct", code, "index_ci_upper", c["index_ci"][1])]
        for item, score in c["item_scores"].items():
            rows += [("item", item, "score", score), ("item", item, "weight", c["weights"][item])]
            if "outer_weights" in c:  # PLS
                rows.append(("item", item, "outer_weight", c["outer_weights"][item]))
            for key in ("estimate", "std_estimate", "se", "p_value"):
                rows.append(("loading", f"{code} =~ {item}", key, c["loadings"][item][key]))
    for p in d["paths"]:
        for key in ("estimate", "std_estimate", "se", "z", "p_value"):
            rows.append(("path", f"{p['from']} -> {p['to']}", key, p[key]))
        if "boot_ci" in p:
            rows += [("path", f"{p['from']} -> {p['to']}", "boot_se", p["boot_se"]),
                     ("path", f"{p['from']} -> {p['to']}", "boot_ci_lower", p["boot_ci"][0]),
                     ("path", f"{p['from']} -> {p['to']}", "boot_ci_upper", p["boot_ci"][1])]
    for e in d["effects"]:
        for key in ("direct", "indirect", "total", "impact_5pt"):
            rows.append(("effect", f"{e['from']} -> {e['to']}", key, e[key]))
    for row in d["improve_first"]:
        rows += [("improve_first", row["item"], key, row[key]) for key in ("priority", "tier", "gain", "p_top")]
    if d.get("invariance"):
        for level in ("configural", "metric", "scalar"):
            for key in ("chi2", "df", "cfi", "rmsea", "delta_chi2", "delta_df", "p_value", "delta_cfi",
                        "delta_rmsea"):
                if key in d["invariance"][level]:
                    rows.append(("invariance", level, key, d["invariance"][level][key]))
        rows.append(("invariance", "level", "value", d["invariance"]["level"]))
        for label, g in d["groups"].items():
            for code, c in g["constructs"].items():
                rows += [("group", f"{label} {code}", key, c[key]) for key in ("index", "index_invariant")]
    # names come from the analyst's column headers: defuse any that a spreadsheet would run
    return [dict(zip(("section", "name", "statistic", "value"), (section, neutralize(name), stat, value)))
            for section, name, stat, value in rows]


def parse_scenario(text: str) -> dict:
    """``"PQ2=+5,PV1=+3"`` → ``{"PQ2": 5.0, "PV1": 3.0}`` (a lever named twice adds up)."""
    changes: dict = {}
    for part in str(text).split(","):
        name, amount = parse_change(part)
        changes[name] = changes.get(name, 0.0) + amount
    return changes


def what_if_lines(rows: list[dict]) -> list[str]:
    """One line per scenario and target: the predicted index change with its interval."""
    lines = ["", "What-if (predicted index change from the total effects; 95% bootstrap interval):"]
    for row in rows:
        change = ", ".join(f"{k} {v:+g}" for k, v in row["changes"].items())
        ci = (f" [{row['ci'][0]:+.2f}, {row['ci'][1]:+.2f}]" if row["ci"] else " (no interval: no bootstrap)")
        lines.append(f"  {change}: {row['target']} {row['change']:+.2f}{ci}")
    return lines


def _run(args) -> int:
    spec = _load_map(args.map, args.model) if args.map else None
    scenarios = [parse_scenario(text) for text in args.what_if]  # bad syntax fails before the fit
    data = read_table(args.data)
    with silenced():  # the result lists the warnings; printed below
        result = fit(data, spec, scale=(args.scale_min, args.scale_max), missing=args.missing,
                     estimator=args.estimator, group=args.group, bootstrap=args.bootstrap,
                     seed=args.seed, model=args.model)
    predicted = [row for changes in scenarios for row in what_if(result, changes)]
    out = result.to_dict()
    if scenarios:
        out["what_if"] = predicted
    try:
        if args.json:
            Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=2)
                                       + "\n", encoding="utf-8")
        if args.csv:
            with open(args.csv, "w", newline="", encoding="utf-8-sig") as fh:
                writer = csv.DictWriter(fh, fieldnames=["section", "name", "statistic", "value"])
                writer.writeheader()
                writer.writerows(flat_rows(result))
    except OSError as err:
        raise ModelError(f"cannot write output ({err.strerror}: {err.filename})") from None
    print(result.to_text() + ("\n".join(what_if_lines(predicted)) if scenarios else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 bad input)."""
    try:
        return _run(_parser().parse_args(argv))
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
