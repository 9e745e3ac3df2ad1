#!/usr/bin/env bash
# Seeds corpus/roster_csv/ with the nasty files of tests/roster_corpus/ and
# the good set, each in every role the fuzz target gives a file (the first
# byte of an input picks the role; see fuzz_targets/roster_csv.rs).
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/roster_csv
mkdir -p "$out"
n=0
for f in ../tests/roster_corpus/*.csv ../tests/roster_corpus/good/*.csv; do
  for role in 0 1 2 3 4 5 6; do
    { printf "\\x$(printf %02x "$role")"; cat "$f"; } > "$out/$(basename "$f" .csv)-$role"
    n=$((n + 1))
  done
done
echo "seeded $n inputs into $out"
