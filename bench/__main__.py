"""`python -m bench [--smoke] [--only NAME …]`: run the benchmarks of issue 4, print a report,
write it as JSON to bench/results/latest.json (smoke runs go to bench/results/smoke.json)."""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench import fanout, resilience, web
from bench.common import Figure

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ORDER = ("fanout", "broken", "durability", "inbox", "read", "memory")
BUDGET_SECONDS = 15 * 60  # the issue: `make bench` finishes within 15 minutes


def machine() -> dict:
    """Where the figures come from: the processor (its family and model tell apart machines that
    share a name), Python, the system and the commit measured."""
    cpu = {}
    try:  # the first processor's fields
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
        cpu = {key.strip(): value.strip() for key, _, value in
               (line.partition(":") for line in first.splitlines())}
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu.get("model name", ""),
            "cpu_family_model": f"family {cpu.get('cpu family', '?')} model {cpu.get('model', '?')}",
            "python": platform.python_version(), "system": platform.platform(), "commit": commit()}


def commit() -> str:
    """The source tree's commit, with "+changes" when tracked files differ from it ("" outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if changed else "")


def describe(where: dict) -> str:
    """One line naming the machine and the commit."""
    return (f"machine: {where['cpus']} CPUs, {where['cpu']} ({where['cpu_family_model']}), Python "
            f"{where['python']}, {where['system']}; commit {where['commit'] or 'unknown'}")


def whole_run(seconds: float) -> Figure:
    """The time of a full run (every benchmark, 3 runs each) against the issue's budget."""
    return Figure("bench", "time of the whole run", seconds, "s", f"≤ {BUDGET_SECONDS // 60} minutes",
                  seconds <= BUDGET_SECONDS)


def report(figures: list[Figure]) -> str:
    """A readable table: figure, value, baseline, ratio, target, verdict."""
    lines = []
    for fig in figures:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[fig.passed]
        base = f"{fig.baseline:.4g} ({fig.baseline_name})" if fig.baseline is not None else "-"
        ratio = f"{fig.ratio:.2f}" if fig.ratio is not None else "-"
        lines.append(f"[{verdict}] {fig.bench}: {fig.name}\n"
                     f"        measured {fig.value:.4g} {fig.unit}   baseline {base}   ratio {ratio}"
                     f"   target {fig.target}")
        if fig.runs:
            lines.append("        runs " + ", ".join(f"{r:.4g}" for r in fig.runs))
        if fig.note:
            lines.append(f"        {fig.note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run the chosen benchmarks and report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, one run each: checks the bench works")
    parser.add_argument("--only", nargs="*", choices=ORDER, help="run only these benchmarks")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (median); default 3, smoke 1")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON report path (default bench/results/latest.json or smoke.json)")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.smoke else 3)
    chosen = args.only or list(ORDER)
    started, where = time.time(), machine()
    print(describe(where), flush=True)
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    context: dict = {}

    def run(name: str, runner, *arguments) -> None:
        """Run one benchmark, print its figures at once; a crash is reported and the rest go on."""
        began = time.time()
        try:
            found = runner(*arguments)
        except web.Unavailable as exc:
            errors[name] = f"skipped: {exc}"
            print(f"[skip] {name}: {exc}", flush=True)
            return
        except Exception as exc:  # noqa: BLE001 - the report says which benchmark broke and why
            errors[name] = f"error: {type(exc).__name__}: {exc}"
            print(f"[ERROR] {name}: {traceback.format_exc()}", flush=True)
            return
        figures.extend(found)
        print(report(found), flush=True)
        print(f"        ({name} took {time.time() - began:.0f} s)", flush=True)

    try:
        if "fanout" in chosen or {"broken", "durability"} & set(chosen):
            def healthy():
                found, more = fanout.run(args.smoke, runs)
                context.update(more)
                return found if "fanout" in chosen else []
            run("fanout", healthy)
        if "fanout" in chosen:
            def large():
                found = fanout.run_large(args.smoke, runs)
                context["healthy_large"] = found[0].value
                return found
            run("fanout-large", large)
            run("fanout-https", fanout.run_https, args.smoke, runs, context.get("healthy"))
        if "broken" in chosen:
            run("broken", resilience.broken, args.smoke, context, runs)
            run("broken-large", resilience.broken_large, args.smoke, context.get("healthy_large"))
        if "durability" in chosen and context:
            run("durability", resilience.durability, args.smoke, context)
    finally:
        resilience.close(context)
    for name, runner in (("inbox", web.inbox), ("read", web.read_path), ("memory", web.memory)):
        if name in chosen:
            run(name, runner, args.smoke, runs)
    if not args.smoke and not args.only and runs >= 3 and not errors:
        figures.append(whole_run(time.time() - started))
    print("\n=== summary ===")
    print(describe(where))
    print(report(figures))
    for name, why in errors.items():
        print(f"[{name}] {why.splitlines()[0]}")
    result = {"smoke": args.smoke, "runs": runs, "machine": where,
              "seconds": round(time.time() - started, 1), "figures": [f.as_dict() for f in figures],
              "skipped": errors,
              "passed": all(f.passed is not False for f in figures) and not any(
                  why.startswith("error") for why in errors.values())}
    output = args.output or RESULTS / ("smoke.json" if args.smoke else "latest.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    passed, failed = sum(f.passed is True for f in figures), sum(f.passed is False for f in figures)
    print(f"\n{passed} passed, {failed} failed in {result['seconds']} s")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
