"""The corpus: real programs nobody here wrote, each run as concurrent copies
under one ``strace -f`` (fixtures/corpus/), judged against the copies' own
exit statuses and error messages.

* a racy program: every copy that failed is explained by a finding whose
  other side is another copy (or a child of one); every round, failed or
  not, reports the race (latent warnings when the timing was lucky);
* a correct program (it locks, creates exclusively or replaces atomically):
  every copy exits 0 and fsrace raises no warning and no error.

Slow (each program: >= 3 rounds, well under a minute); CI runs them.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import index_reachable, needs_strace

from fsrace.fixtures.corpus.measure import Round, record_round, summary
from fsrace.fixtures.corpus.programs import PROGRAMS

ROUNDS = 3
#: Racy programs whose copies fail every round here (index.lock, ref locks):
#: a run without a failure would prove nothing about explanations.
ALWAYS_FAIL = {"git-add", "git-commit"}
#: Extra rounds a flaky racy program gets to show a failure (bounded).
EXTRA_ROUNDS = 2
NEEDS_INDEX = {"pip-target", "pip-cache", "npm"}

pytestmark = [needs_strace, pytest.mark.slow]


def _skip_unless_runnable(name: str) -> None:
    program = PROGRAMS[name]
    if program.needs != "pip" and shutil.which(program.needs) is None:
        pytest.skip(f"{program.needs} is not installed")
    if name in NEEDS_INDEX and not index_reachable():
        pytest.skip("the package index is not reachable")


def _failure_text(r: Round) -> str:
    return "\n".join(f"copy {c.index} pid {c.pid} exit {c.exit_code}: {c.stderr.strip()[:400]}"
                     for c in r.failed())


@pytest.mark.parametrize("name", sorted(n for n, p in PROGRAMS.items() if p.racy))
def test_racy_program_every_failure_explained_by_another_copy(name: str, tmp_path) -> None:
    _skip_unless_runnable(name)
    program = PROGRAMS[name]
    failures = 0
    rounds = 0
    while rounds < ROUNDS or (failures == 0 and rounds < ROUNDS + EXTRA_ROUNDS):
        rounds += 1
        r = record_round(program, tmp_path / f"round{rounds}")
        print(f"round {rounds} " + summary(r))
        failed = r.failed()
        failures += len(failed)
        unexplained = [c for c in failed if not r.explained(c)]
        assert not unexplained, (
            f"{name}: failed copies not explained by a race with another copy:\n"
            + _failure_text(r) + f"\nfailed_processes: {r.report['failed_processes']}")
        # The race is there whether or not this round's timing broke a copy.
        assert r.alarms(), f"{name} round {rounds}: no warning or error on a racy program"
    if name in ALWAYS_FAIL:
        assert failures, f"{name}: no copy failed in {rounds} rounds: nothing was proven"


@pytest.mark.parametrize("name", sorted(n for n, p in PROGRAMS.items() if not p.racy))
def test_correct_program_raises_no_alarm(name: str, tmp_path) -> None:
    _skip_unless_runnable(name)
    program = PROGRAMS[name]
    for n in range(1, ROUNDS + 1):
        r = record_round(program, tmp_path / f"round{n}")
        print(f"round {n} " + summary(r))
        # Ground truth first: the program's own verdict on the round.
        assert not r.failed(), f"{name} failed on its own:\n" + _failure_text(r)
        alarms = [(f["id"], f["kind"], f["severity"], f["site"], f.get("note"))
                  for f in r.alarms()]
        assert alarms == [], f"{name} round {n}: " + "\n".join(map(str, alarms))


def test_every_corpus_program_is_real_and_the_corpus_has_both_kinds() -> None:
    # At least 8 programs nobody on this project wrote, some racy, some correct.
    assert len(PROGRAMS) >= 8
    assert {p.racy for p in PROGRAMS.values()} == {True, False}
    for p in PROGRAMS.values():
        assert p.why and p.copies >= 2
