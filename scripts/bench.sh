#!/usr/bin/env bash
# bench.sh: what `make bench` runs. Every package's benchmarks with allocations, then the
# render figures (issue 17) in one table: 1,000 nodes warm (PKI issued) and cold (PKI
# issued first) as cloud-init, 1,000 nodes as Ignition and the ratio Ignition / cloud-init,
# and 1,000 and 10,000 nodes written to disk as `kisgen render` does, each benchmark in a process of
# its own so that its peak resident set is its own. Wall time follows the machine's load;
# CPU time (cpu-ms/op) much less, so both are printed.
#
#   scripts/bench.sh            everything (the 10,000-node figure takes a few minutes)
#   BENCH_ALL=0 scripts/bench.sh  only the render table
#
# The output is also kept in .cache/bench.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p .cache
out=.cache/bench.txt
: >"$out"

if [[ ${BENCH_ALL:-1} != 0 ]]; then
	# shellcheck disable=SC2046 # one argument per package
	$GO test -run '^$' -bench . -benchmem $($GO list ./... | grep -v '/render$') | tee -a "$out"
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
$GO test -c -o "$bin/render.test" ./render/

# run NAME [SUB] BENCHTIME: one benchmark, alone in its process; prints its result line.
run() {
	local name=$1 sub='' pattern="^Benchmark$1\$"
	if (($# == 3)); then
		sub=/$2
		pattern+="/^$2\$"
		shift
	fi
	(cd render && "$bin/render.test" -test.run '^$' -test.bench "$pattern" -test.benchtime "$2" -test.benchmem) |
		tee -a "$out" | grep "^Benchmark$name$sub-"
}

# field LINE UNIT: the value before UNIT in a benchmark result line.
field() { awk -v u="$2" '{ for (i = 2; i <= NF; i++) if ($i == u) { print $(i - 1); exit } }' <<<"$1"; }

warm=$(run Render1000Issued 3x)
cold=$(run Render1000FromScratch 2x)
ign=$(run Render1000Ignition 3x)
to1k=$(run RenderTo nodes=1000 2x)
big=$(run RenderTo nodes=10000 1x)

{
	echo
	echo "render (issue 17): 3 etcd, 3 masters, workers; wall and CPU per render, peak RSS of the benchmark's process"
	printf '%-44s %10s %10s %10s\n' "" "wall s" "CPU s" "peak MiB"
	for row in "1,000 nodes cloud-init, PKI issued (warm)|$warm" "1,000 nodes cloud-init, PKI first (cold)|$cold" \
		"1,000 nodes Ignition, PKI issued|$ign" "1,000 nodes cloud-init to disk, PKI issued|$to1k" \
		"10,000 nodes cloud-init to disk, PKI issued|$big"; do
		line=${row#*|}
		printf '%-44s %10.2f %10.2f %10s\n' "${row%%|*}" "$(awk -v n="$(field "$line" ns/op)" 'BEGIN { print n / 1e9 }')" \
			"$(awk -v n="$(field "$line" cpu-ms/op)" 'BEGIN { print n / 1e3 }')" "$(field "$line" peak-RSS-MiB || true)"
	done
	awk -v i="$(field "$ign" ns/op)" -v c="$(field "$warm" ns/op)" -v ic="$(field "$ign" cpu-ms/op)" -v cc="$(field "$warm" cpu-ms/op)" \
		'BEGIN { printf "Ignition / cloud-init: %.2f wall, %.2f CPU\n", i / c, ic / cc }'
	awk -v b="$(field "$big" cpu-ms/op)" -v c="$(field "$to1k" cpu-ms/op)" -v bw="$(field "$big" ns/op)" -v cw="$(field "$to1k" ns/op)" \
		'BEGIN { printf "10,000 / 1,000 nodes to disk: %.1f times the CPU, %.1f the wall time (10 is linear)\n", b / c, bw / cw }'
} | tee -a "$out"
