#!/usr/bin/env bash
# run.sh measures devorch across several Docker hosts:
#
#  1. `up -d --wait` of a 30-service stack on 3 hosts vs on 1 host, median of
#     RUNS (default 3), as a ratio. Hosts: the test hosts of
#     scripts/testhosts.sh (h1..h3; started here if one of them is not
#     running, and stopped at the end only if no test host was running). The 1-host run uses h1, declared the
#     same way: same dockerd build and flags, same storage driver (overlay2;
#     the default daemon here is on fuse-overlayfs, whose container create is
#     several times slower and would make "3 hosts" look faster for the wrong
#     reason), same network setup, same devorch code path (declared hosts
#     with an address). Needs root (network namespaces, dockerds): skipped
#     with a message otherwise.
#  2. the scheduler benchmark (go test ./engine/schedule -bench, 100 hosts,
#     1k/10k/100k services), target: 10,000 services under 100 ms, linear.
#
# Stack (bench/multihost/stack.sh, also used by bench/network/run.sh):
# s01..s30, devorch-test/testapp, each on its own port (PORT=90NN, expose
# "90NN", so that the ports devorch publishes on a host's address for
# cross-host links never clash), healthcheck every 1 s; s25..s30 depend on
# s01, s03, ..., s11 with service_healthy (6 edges, depth 1). After each
# 3-host up, one dependent calls its dependency on another host by name.
#
# Environment: RUNS (default 3); MULTIHOST_PARTS (default up,schedule).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
runs=${RUNS:-3}
parts=",${MULTIHOST_PARTS:-up,schedule},"
want() { [[ $parts == *",$1,"* ]]; }

die() { echo "bench multihost: $*" >&2; exit 1; }
# dep_of N and multihost_stack: the stack.
source bench/multihost/stack.sh

tmp=$(mktemp -d -t dvb-multihost.XXXXXX)
log=$tmp/bench.log
report=$tmp/report.txt
P1=dvb-mh1 P3=dvb-mh3
started_hosts=0
host_specs=()
host_flags=()
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }
median() { tr ' ' '\n' <<<"$1" | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# cleanup removes the bench's projects from every test host (whatever a
# failed step left).
cleanup() (
	set +e
	if ((${#host_specs[@]})); then
		for p in $P1 $P3; do
			(cd "$tmp" && "$root/bin/devorch" "${host_flags[@]}" -p "$p" --progress quiet down -t 1)
		done
		for spec in "${host_specs[@]}"; do
			ep=${spec#*=}
			ep=${ep%%;*}
			for p in $P1 $P3; do
				ids=$(docker -H "$ep" ps -aq --filter "label=dev.devorch.project=$p")
				[ -z "$ids" ] || docker -H "$ep" rm -f $ids
				ids=$(docker -H "$ep" network ls -q --filter "label=dev.devorch.project=$p")
				[ -z "$ids" ] || docker -H "$ep" network rm $ids
			done
		done
	fi
) >>"$log" 2>&1

# stop_hosts stops the test hosts if this script started them.
stop_hosts() {
	if [ "$started_hosts" = 1 ]; then
		echo "stopping the test hosts this bench started"
		scripts/testhosts.sh down
	fi >>"$log" 2>&1
}

exec 3>&2
finish() {
	local rc=$?
	if [ "$started_hosts" = 1 ]; then echo "bench multihost: stopping the test hosts it started" >&3; fi
	cleanup
	stop_hosts
	if [ $rc != 0 ]; then
		echo "bench multihost: failed or interrupted (exit $rc); last lines of $log:" >&3
		tail -n 30 "$log" >&3
	fi
	rm -rf "$tmp"
}
trap finish EXIT
trap 'exit 130' INT TERM

mkdir -p bench/results
: >"$report"
out() { echo "$*" | tee -a "$report"; }

out "devorch multi-host bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out

# ---------------------------------------------------------------- 30 services, 1 vs 3 hosts
up_part() {
	[ -x bin/devorch ] || die "bin/devorch is missing: run 'make build' (or 'make bench')"
	docker info >/dev/null 2>&1 || die "Docker is not reachable ('docker info' failed)"
	if ! docker image inspect devorch-test/testapp:latest >/dev/null 2>&1; then
		echo "building the test images (go run ./cmd/testimages)"
		go run ./cmd/testimages
	fi
	local raw n missing=0 i
	raw=$(scripts/testhosts.sh env --raw 2>>"$log" | sed 's/^DEVORCH_TEST_HOSTS=//')
	n=$(tr ',' '\n' <<<"$raw" | grep -c . || true)
	for i in 1 2 3; do tr ',' '\n' <<<"$raw" | grep -q "^h$i=" || missing=1; done
	if ((missing)); then
		# Keep any host beyond h3 that someone else runs (up N stops hosts > N),
		# the test Swarm's too (env --raw leaves those out).
		local top
		top=$(scripts/testhosts.sh env 2>>"$log" | grep -oE "[',]h[0-9]+=" | tr -dc '0-9\n' | sort -n | tail -n1)
		top=$((${top:-0} > 3 ? top : 3))
		echo "starting test hosts h1..h$top (scripts/testhosts.sh up $top; $n running before)" >&2
		if ((n == 0)); then started_hosts=1; fi
		DEVORCH_TESTHOST_IMAGES="devorch-test/testapp:latest" scripts/testhosts.sh up "$top" >>"$log" 2>&1 ||
			die "scripts/testhosts.sh up $top failed (see above)"
		raw=$(scripts/testhosts.sh env --raw 2>>"$log" | sed 's/^DEVORCH_TEST_HOSTS=//')
	else
		echo "reusing the running test hosts" >&2
	fi
	# h1..h3 exactly, in that order.
	local spec
	for i in 1 2 3; do
		spec=$(tr ',' '\n' <<<"$raw" | grep "^h$i=" || true)
		[ -n "$spec" ] || die "test host h$i is not running (scripts/testhosts.sh status)"
		host_specs+=("$spec")
	done
	host_flags=()
	for spec in "${host_specs[@]}"; do host_flags+=(--host "$spec"); done
	one_flags=(--host "${host_specs[0]}")
	scripts/testhosts.sh load devorch-test/testapp:latest >>"$log" 2>&1 || die "could not load devorch-test/testapp into the test hosts"

	# The stack.
	local f=$tmp/stack.yaml s
	multihost_stack devorch-test/testapp:latest >"$f"

	declare -gA times=()
	down_errors=""
	timed() { # NAME CMD... (a failed down is reported, not fatal)
		local name=$1
		shift
		echo "== $name: $*" >>"$log"
		local start=$EPOCHREALTIME
		if ! "$@" >>"$log" 2>&1; then
			[[ $name == *.down ]] || die "$name failed: $*"
			down_errors+="$name failed: $(tail -n1 "$log"); "
		fi
		times[$name]+="$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.3f", e - s }') "
	}
	dv() { (cd "$tmp" && "$root/bin/devorch" "$@"); }
	# placement prints "CONTAINER HOST" for the 3-host project (ps --format json).
	placement() {
		local l
		dv "${host_flags[@]}" -p $P3 -f "$f" ps --format json | while read -r l; do
			echo "$(sed -nE 's/.*"Name":"([^"]*)".*/\1/p' <<<"$l") $(sed -nE 's/.*"Host":"([^"]*)".*/\1/p' <<<"$l")"
		done
	}
	cleanup
	local spread="" cross=""
	for ((i = 1; i <= runs; i++)); do
		echo "multihost run $i/$runs" >&2
		timed one.up dv "${one_flags[@]}" -p $P1 -f "$f" --progress plain up -d --wait
		timed one.down dv "${one_flags[@]}" -p $P1 -f "$f" --progress plain down -t 1
		timed three.up dv "${host_flags[@]}" -p $P3 -f "$f" --progress plain up -d --wait
		# Where the services went.
		placed=$(placement)
		spread=$(awk '{ print $2 }' <<<"$placed" | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep=" " }')
		echo "placement: $spread" >>"$log"
		# One call from a dependent to its dependency on another host, by
		# service name (the cross-host link), once.
		if [ -z "$cross" ]; then
			local from to hf ht
			for ((s = 25; s <= 30; s++)); do
				from=$(printf 's%02d' $s) to=$(dep_of $s)
				hf=$(awk -v n="$P3-$from-1" '$1 == n { print $2 }' <<<"$placed")
				ht=$(awk -v n="$P3-$to-1" '$1 == n { print $2 }' <<<"$placed")
				[ "$hf" != "$ht" ] || continue
				if dv "${host_flags[@]}" -p $P3 -f "$f" exec -T "$from" /testapp get "http://$to:90${to#s}/" >>"$log" 2>&1; then
					cross="$from ($hf) → $to ($ht) by name: ok"
				else
					cross="$from ($hf) → $to ($ht) by name: FAILED (see the log)"
				fi
				break
			done
		fi
		timed three.down dv "${host_flags[@]}" -p $P3 -f "$f" --progress plain down -t 1
	done
	local m1 m3 d1 d3 ratio
	m1=$(median "${times[one.up]}") m3=$(median "${times[three.up]}")
	d1=$(median "${times[one.down]}") d3=$(median "${times[three.down]}")
	ratio=$(awk -v a="$m3" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')
	out "30 services, up -d --wait, median of $runs (s):"
	printf '  %-34s %6.2f   runs: %s\n' "1 host (h1)" "$m1" "${times[one.up]}" | tee -a "$report"
	printf '  %-34s %6.2f   runs: %s\n' "3 hosts (h1, h2, h3)" "$m3" "${times[three.up]}" | tee -a "$report"
	out "  ratio 3 hosts / 1 host: ${ratio}x"
	printf '  %-34s %6.2f / %.2f\n' "down, 1 host / 3 hosts (s)" "$d1" "$d3" | tee -a "$report"
	out "  placement on 3 hosts (last run): $spread; cross-host call: ${cross:-no dependency pair on two hosts}"
	[ -z "$down_errors" ] || out "  down errors (resources left are removed by the cleanup): $down_errors"
	out
}

# ---------------------------------------------------------------- the scheduler benchmark
schedule_part() {
	echo "scheduler benchmark: go test ./engine/schedule -run xxx -bench . -benchtime 3x" >&2
	local bench
	bench=$(go test ./engine/schedule -run xxx -bench . -benchtime 3x 2>&1) || { echo "$bench" >>"$log"; die "the scheduler benchmark failed"; }
	echo "$bench" >>"$log"
	out "scheduler (engine/schedule BenchmarkPlace, 100 hosts, -benchtime 3x):"
	# BenchmarkPlace/services=1000-2   3   12345678 ns/op   ... B/op   ... allocs/op
	local rows
	rows=$(awk '$1 ~ /^BenchmarkPlace\/services=[0-9]+(-[0-9]+)?$/ {
		n = $1; sub(/^BenchmarkPlace\/services=/, "", n); sub(/-[0-9]+$/, "", n)
		for (i = 3; i < NF; i++) if ($(i + 1) == "ns/op") ns = $i
		printf "%s %s\n", n, ns }' <<<"$bench")
	[ -n "$rows" ] || die "no BenchmarkPlace/services=N lines in the benchmark output"
	local n ns first_per="" per ms10k=""
	while read -r n ns; do
		per=$(awk -v ns="$ns" -v n="$n" 'BEGIN { printf "%.2f", ns / n / 1000 }')
		[ -n "$first_per" ] || first_per=$per
		[ "$n" != 10000 ] || ms10k=$(awk -v ns="$ns" 'BEGIN { printf "%.1f", ns / 1e6 }')
		printf '  %7s services: %9.1f ms   %6.2f µs/service (%sx the 1k figure)\n' "$n" "$(awk -v ns="$ns" 'BEGIN { print ns / 1e6 }')" "$per" \
			"$(awk -v a="$per" -v b="$first_per" 'BEGIN { printf "%.2f", a / b }')" | tee -a "$report"
	done <<<"$rows"
	local last_per
	last_per=$(tail -n1 <<<"$rows" | awk '{ printf "%.2f", $2 / $1 / 1000 }')
	out "  10,000 services on 100 hosts < 100 ms: ${ms10k:-?} ms $([ -n "$ms10k" ] && verdict "$ms10k < 100" || echo n/a)"
	out "  linear (µs/service at 100k within 2x of 1k): $(verdict "$last_per <= 2 * $first_per")"
	grep -E '^BenchmarkPlace/services=1000/explain' <<<"$bench" | awk '{ for (i = 3; i < NF; i++) if ($(i + 1) == "ns/op") printf "  1000 services with Explain: %.1f ms\n", $i / 1e6 }' | tee -a "$report"
	out
}

if want up; then
	if ((EUID != 0)); then
		out "30 services on 1 vs 3 hosts: SKIPPED: needs root (scripts/testhosts.sh creates network namespaces, veths, iptables rules and dockerds); run 'sudo make bench' or BENCH_PARTS=core,hotreload"
		out
	else
		up_part
	fi
fi
if want schedule; then
	schedule_part
fi
cp "$report" "bench/results/$(date -u +%Y%m%d-%H%M%S)-multihost.txt"
