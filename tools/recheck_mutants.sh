#!/bin/bash
# Recheck mutants of one module against one test file, the way mutmut switches a mutant on
# (MUTANT_UNDER_TEST in the environment of a pytest run inside .mutation/<module>/mutants/),
# after `make mutation MODULES=<module>` has built that tree. Prints "killed NAME" or
# "SURVIVED NAME" per mutant; with no names, every mutant `mutmut results` lists.
#
#   tools/recheck_mutants.sh exact tests/test_exact_mutants.py fpstudy.exact.x_to_mpf__mutmut_4
#
# A survivor of a full run that this kills is killed: the run's tests only grow.
set -u
module=$1; tests=$2; shift 2
case $tests in tests/test_*.py) ;; *) echo "give a test file under tests/"; exit 2;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/.mutation/$module/mutants" || exit 2
cp "$root/$tests" tests/
py="$root/.venv/bin/python"
names="$*"
if [ -z "$names" ]; then
    names=$(cd .. && "$root/.venv/bin/mutmut" results 2>/dev/null | grep -o "fpstudy\.[a-z_]*\.x[a-zA-Z0-9_]*")
fi
run() { PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -q -x -p no:cacheprovider "tests/$(basename "$tests")" >/dev/null 2>&1; }
run || { echo "the test file fails on the unmutated code"; exit 1; }
for n in $names; do
    if MUTANT_UNDER_TEST=$n run; then echo "SURVIVED $n"; else echo "killed $n"; fi
done
