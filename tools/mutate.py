"""Mutation testing of the code that decides, cleans up and protects (issue #20): `make mutate`.

    python tools/mutate.py                          # every target in mutation/targets.toml, one after another
    python tools/mutate.py --module pipe/log.py     # one (or several) targets; a path or its end ("log.py")
    python tools/mutate.py --recheck --module log.py  # only the last run's survivors, after adding tests
    python tools/mutate.py --list                   # the targets, their tests and the last recorded scores

Each target is mutated with cosmic-ray (Python) or with the hand-written mutants of tools/mutate_bash.py
(the startup script), in a scratch copy of the repository (the working tree is never touched, so an
interrupted run leaves no mutant behind), and judged by that target's own tests only (pytest -x, one
process). Why cosmic-ray rather than mutmut 3: most of the tests run the pipe as users do, in a child
process with a clean environment (test/support/fixtures_pipe.py); cosmic-ray writes the mutant to disk, so the
child runs it, where mutmut 3's in-process trampolines and per-test coverage would not see the child.

Per target it prints killed/total and every survivor (line, operator, diff), minus the equivalent mutants
listed in mutation/equivalents.md, and records the score in mutation/scores.json as soon as the target is
done, so a partial run still gives numbers.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools"))

from mutate_bash import run_bash_mutants  # noqa: E402  # after the path fix

TARGETS = REPO_ROOT / "mutation" / "targets.toml"
EQUIVALENTS = REPO_ROOT / "mutation" / "equivalents.md"
SCORES = REPO_ROOT / "mutation" / "scores.json"
SCORES_PAGE = REPO_ROOT / "docs" / "development.md"  # its "Mutation testing" section shows the scores
SCORES_BLOCK = re.compile(r"(<!-- mutation-scores [^\n]*-->\n).*?(<!-- /mutation-scores -->)", re.S)
SESSIONS = REPO_ROOT / "mutation" / ".sessions"  # cosmic-ray's results per target (git-ignored), for --recheck
GOAL = 0.95

# cosmic-ray's operators, less the ones that mostly make noise: for each binary and comparison operator only
# the plausible slips (+/-, * and /, a boundary < vs <=, a negation == vs !=) instead of every operator;
# no variable inserting/replacing and no decorator removal (dataclass and contextmanager break everything).
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Mul|BitOr_BitAnd|BitAnd_BitOr)$)",
    r"core/ReplaceComparisonOperator_(?!(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Lt_GtE|LtE_Gt|Gt_LtE|GtE_Lt|Is_IsNot|IsNot_Is)$)",
    r"core/ReplaceUnaryOperator_(?!(Delete_Not|USub_UAdd)$)",
    r"core/VariableInserter",
    r"core/VariableReplacer",
    r"core/RemoveDecorator",
]


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    timeout: float
    bash: bool = False


@dataclass
class Score:
    module: str
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        judged = self.total - self.equivalent
        return self.killed / judged if judged else 1.0

    def line(self) -> str:
        return (
            f"{self.module:38} {self.killed:4}/{self.total - self.equivalent:<4} killed = {self.score:6.1%}"
            f"   ({self.equivalent} equivalent, {len(self.survivors)} surviving)"
        )


def load_targets() -> list[Target]:
    data = tomllib.loads(TARGETS.read_text())
    return [
        Target(t["module"], tuple(t["tests"]), float(t.get("timeout", 120)), bool(t.get("bash", False)))
        for t in data["target"]
    ]


def pick(targets: list[Target], wanted: list[str]) -> list[Target]:
    if not wanted:
        return targets
    chosen = []
    for name in wanted:
        found = [t for t in targets if t.module == name or t.module.endswith("/" + name.lstrip("/"))]
        if len(found) != 1:
            names = ", ".join(t.module for t in targets)
            raise SystemExit(f"MODULE: {name!r} names {len(found)} targets; one of: {names}")
        chosen += found
    return chosen


def load_equivalents() -> list[tuple[str, str, str]]:
    """(module, operator, mutated line) rows of the table in mutation/equivalents.md (`\\|` is a literal |)."""
    rows = []
    for line in EQUIVALENTS.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) >= 4 and cells[0].startswith("`pipe/"):
            rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2].strip("`").replace("\\|", "|")))
    return rows


def scratch_copy(base: Path) -> Path:
    """The repository's files (tracked and new, not ignored) under base/repo, with ../shared beside it
    (the Bitbucket spec the conformance tests read)."""
    repo = base / "repo"
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = REPO_ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    shared = REPO_ROOT.parent / "shared"
    if shared.is_dir():
        (base / "shared").symlink_to(shared)
    return repo


def test_command(target: Target) -> list[str]:
    return [sys.executable, "-m", "pytest", "-x", "-q", *target.tests]


def session_of(target: Target) -> Path:
    return SESSIONS / (target.module.replace("/", "_") + ".sqlite")


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line, column) of every annotation: with `from __future__ import annotations` they are
    strings never evaluated, so a mutant inside one (`X | None` to `X & None`) changes nothing."""
    tree = ast.parse(source)
    future = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    if not any(alias.name == "annotations" for n in future for alias in n.names):
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            found.append(node.returns)
    return [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found]


def skip_annotations(session: Path, source: str) -> int:
    """Mark the mutants inside annotations as skipped before any runs (see annotation_spans)."""
    spans = annotation_spans(source)
    skipped = 0
    with sqlite3.connect(session) as db:
        pending = db.execute(
            "SELECT m.job_id, m.start_pos_row, m.start_pos_col FROM mutation_specs m "
            "WHERE m.job_id NOT IN (SELECT job_id FROM work_results)"
        ).fetchall()
        for job_id, row, col in pending:
            if any(start <= (row, col) < end for start, end in spans):
                db.execute(
                    "INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
                    "VALUES ('SKIPPED', 'inside an annotation (never evaluated)', NULL, NULL, ?)",
                    (job_id,),
                )
                skipped += 1
    return skipped


def mutated_line(diff: str | None) -> str:
    """The line as the mutant reads it (the `+` line of cosmic-ray's diff), stripped."""
    return next((ln[1:].strip() for ln in (diff or "").splitlines() if ln[:1] == "+" and ln[:3] != "+++"), "")


def forget_survivors(session: Path, module: str, equivalents: list[tuple[str, str, str]]) -> int:
    """Mark the session's surviving mutants, less the listed equivalents, as not yet run (cosmic-ray exec
    runs only pending ones)."""
    with sqlite3.connect(session) as db:
        survived = db.execute(
            "SELECT r.job_id, m.operator_name, r.diff FROM work_results r JOIN mutation_specs m ON m.job_id = r.job_id "
            "WHERE r.test_outcome = 'SURVIVED'"
        ).fetchall()
        again = [job for job, op, diff in survived if (module, op, mutated_line(diff)) not in equivalents]
        db.executemany("DELETE FROM work_results WHERE job_id = ?", [(job,) for job in again])
    return len(again)


def run_cosmic_ray(target: Target, repo: Path, equivalents: list[tuple[str, str, str]], recheck: bool) -> Score:
    bin_dir = Path(sys.executable).parent
    config = repo.parent / "cosmic-ray.toml"
    session = session_of(target)
    SESSIONS.mkdir(exist_ok=True)
    command = " ".join(test_command(target))
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(target.module)}\n"
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n"
    )
    if recheck and session.exists():
        again = forget_survivors(session, target.module, equivalents)
        print(f"    rechecking the {again} survivors of the last run that are not listed equivalent", flush=True)
        skip_annotations(session, (repo / target.module).read_text())
    else:
        session.unlink(missing_ok=True)
        subprocess.run([bin_dir / "cosmic-ray", "init", config, session], cwd=repo, check=True)
        subprocess.run([bin_dir / "cr-filter-operators", session, config], cwd=repo, check=True)
        skip_annotations(session, (repo / target.module).read_text())
    subprocess.run([bin_dir / "cosmic-ray", "exec", config, session], cwd=repo, check=True)
    dump = subprocess.run([bin_dir / "cosmic-ray", "dump", session], cwd=repo, capture_output=True, check=True)
    score = Score(target.module)
    for row in dump.stdout.decode().splitlines():
        item, result = json.loads(row)
        if result is None or result["worker_outcome"] == "skipped":
            continue
        [mutation] = item["mutations"]
        score.total += 1
        if result.get("test_outcome") in ("killed", "incompetent"):  # incompetent: the mutant does not even load
            score.killed += 1
            continue
        line_no = mutation["start_pos"][0]
        operator = mutation["operator_name"]
        changed = [
            ln for ln in (result.get("diff") or "").splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
        ]
        if (target.module, operator, mutated_line(result.get("diff"))) in equivalents:
            score.equivalent += 1
            continue
        diff = "\n".join(changed)
        score.survivors.append(f"{target.module}:{line_no} {operator} #{mutation['occurrence']}\n{diff}")
    return score


def baseline(target: Target, repo: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(test_command(target), cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{target.module}: its tests fail without any mutant:\n{proc.stdout[-3000:]}")
    took = time.monotonic() - started
    print(f"--- {target.module}: tests pass unmutated in {took:.0f} s (timeout per mutant {target.timeout:.0f} s)")
    if took * 1.5 > target.timeout:
        raise SystemExit(f"{target.module}: raise its timeout in {TARGETS.name} (unmutated run took {took:.0f} s)")


def record(score: Score) -> None:
    scores = json.loads(SCORES.read_text()) if SCORES.exists() else {}
    scores[score.module] = {
        "killed": score.killed,
        "judged": score.total - score.equivalent,
        "equivalent": score.equivalent,
        "surviving": len(score.survivors),
        "score": round(score.score * 100, 1),
        "date": time.strftime("%Y-%m-%d"),
    }
    scores = dict(sorted(scores.items()))
    SCORES.write_text(json.dumps(scores, indent=1) + "\n")
    write_scores_table(scores)


def write_scores_table(scores: dict[str, dict[str, object]]) -> None:
    """The score table of docs/development.md, from every target's last recorded run."""
    rows = ["| module | killed | equivalent | date |", "| --- | --- | --- | --- |"]
    for module, s in scores.items():
        rows.append(f"| `{module}` | {s['score']} % ({s['killed']}/{s['judged']}) | {s['equivalent']} | {s['date']} |")
    text = SCORES_PAGE.read_text()
    SCORES_PAGE.write_text(SCORES_BLOCK.sub(lambda m: m.group(1) + "\n".join(rows) + "\n" + m.group(2), text, count=1))


def run(target: Target, equivalents: list[tuple[str, str, str]], with_vm: bool, recheck: bool) -> Score:
    with tempfile.TemporaryDirectory(prefix="cml-mutate-") as scratch:
        repo = scratch_copy(Path(scratch))
        baseline(target, repo)
        if target.bash:
            killed, survivors, total = run_bash_mutants(
                repo, target.module, test_command(target), target.timeout, with_vm
            )
            score = Score(target.module, total=total, killed=killed, survivors=survivors)
        else:
            score = run_cosmic_ray(target, repo, equivalents, recheck)
    record(score)
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", default=[], help="a target's path (or its end); repeatable")
    parser.add_argument("--list", action="store_true", help="list the targets and the last recorded scores")
    parser.add_argument(
        "--recheck", action="store_true", help="run again only the survivors of the last run (after adding tests)"
    )
    parser.add_argument("--vm", action="store_true", help="also run the bash mutants flagged for real-boot tests")
    args = parser.parse_args()
    # No .pyc: a mutant written within the same second and size as the original must not be taken from a cache.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    # Stopped (SIGTERM, e.g. `timeout`): unwind, so the scratch copy is removed and the scores so far stay.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    targets = pick(load_targets(), [m for ms in args.module for m in ms.split()])
    if args.list:
        scores = json.loads(SCORES.read_text()) if SCORES.exists() else {}
        for t in targets:
            last = scores.get(t.module)
            shown = f"{last['score']}% ({last['killed']}/{last['judged']}, {last['date']})" if last else "not run"
            print(f"{t.module:38} {shown:28} {' '.join(t.tests)}")
        return 0
    equivalents = load_equivalents()
    done: list[Score] = []
    for target in targets:
        score = run(target, equivalents, args.vm, args.recheck)
        done.append(score)
        print(score.line(), flush=True)
        for survivor in score.survivors:
            print("  SURVIVED " + survivor.replace("\n", "\n    "), flush=True)
    print("\nScore per module (killed / mutants that change behaviour):")
    for score in done:
        print("  " + score.line())
    killed = sum(s.killed for s in done)
    judged = sum(s.total - s.equivalent for s in done)
    print(f"  {'all':38} {killed:4}/{judged:<4} killed = {killed / judged if judged else 1:6.1%} (goal {GOAL:.0%})")
    return 0 if all(not s.survivors for s in done) else 1


if __name__ == "__main__":
    sys.exit(main())
