#!/bin/bash
# Builds the benchmark binary once (easyjson included through easyjson.sh's
# overlay when it can be generated, else without it) and runs it ROUNDS
# times (default 6); each round runs every decoder once, BENCHTIME each
# (default 3x: three passes over the corpus), starting at a different
# decoder (DECBENCH_ROTATE), so the decoders alternate over the whole run.
# Writes results/bench.txt (benchstat's format) and prints, per decoder, the
# median over the rounds (also in results/summary.txt).
#
#   ./run.sh                         6 rounds, 3x
#   ROUNDS=3 BENCHTIME=1x ./run.sh   a quick check
#   DECBENCH_EASYJSON=0 ./run.sh     without easyjson
#   DECBENCH_CORPUS=x.jsonl ./run.sh another corpus (one record a line)
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-6}
BENCHTIME=${BENCHTIME:-3x}
mkdir -p results _build
if [[ ${DECBENCH_EASYJSON:-1} != 0 ]] && ./easyjson.sh gen; then
	go test -c -o _build/decoders.test -tags decbench_easyjson -overlay _build/easyjson/overlay.json .
else
	echo "run.sh: benchmarking without easyjson" >&2
	go test -c -o _build/decoders.test .
fi
: >results/bench.txt
for ((i = 0; i < ROUNDS; i++)); do
	echo "round $((i + 1))/$ROUNDS, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	DECBENCH_ROTATE=$i ./_build/decoders.test -test.run '^$' -test.bench '^BenchmarkDecode$' \
		-test.benchmem -test.count 1 -test.benchtime "$BENCHTIME" | tee -a results/bench.txt | grep '^Benchmark' >&2
done
go run ./cmd/summary results/bench.txt | tee results/summary.txt
