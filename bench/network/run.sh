#!/usr/bin/env bash
# run.sh measures devorch's cross-host networks (issue 10, "Figures") on the
# test hosts of scripts/testhosts.sh, as ratios within one run:
#
#  1. Request latency between two containers: p50 and p99 of NET_CALLS
#     (default 1000) sequential `GET /` (a 7-byte answer), timed inside the
#     caller container by `testapp bench` (internal/testapp/netbench.go: the
#     callee's name is resolved once before timing, so no DNS query or
#     /etc/hosts read is timed; 20 untimed calls first). First with a new TCP
#     connection per call (keep-alive off: the figure the target is about; a
#     connection's setup crosses the path once more and goes through the
#     link's DNAT or the overlay's VXLAN like the request), then on one
#     kept-alive connection. Three cases:
#       same host   caller and callee on h1, one bridge;
#       overlay     callee on the Swarm's manager (h5), caller on its worker
#                   (h6), one overlay network; no port declared or published;
#       link        callee on h1 with `expose`, caller on h2: devorch publishes
#                   the port on h1's address and gives the caller extra_hosts.
#     Median of RUNS batches; ratios against the same host. Target: overlay
#     p50 within 2x of the same host.
#  2. Bulk transfer: one `GET /bytes?n=` of NET_BULK_MB (default 100) MB
#     (10^6 bytes) read to its last byte by `testapp pull` in the caller,
#     same three cases; MB/s, median of RUNS; overlay / link.
#  3. `up -d --wait` of the multi-host bench stack (bench/multihost/stack.sh,
#     30 services) on 2 Swarm-joined hosts (h5, h6: one overlay) vs 2 plain
#     hosts (h1, h2: link fallback), median of RUNS, ratio; `down` as well.
#
# Every stack's network kind (overlay, link fallback) is checked with
# `--dry-run up` before anything is timed. The services never declare
# `ports`.
#
# Hosts: h1, h2 (DEVORCH_TEST_HOSTS) and the test Swarm (DEVORCH_TEST_SWARM,
# manager first: h5, h6 as `make test` makes it). When one of h1, h2, h5, h6
# is not running, `scripts/testhosts.sh up 9` (or more, to keep hosts beyond
# h9 that run) starts them; without a complete Swarm, `scripts/testhosts.sh
# swarm 5 6 9` joins h5, h6 and h9. The hosts are stopped at the end only if no
# test host was running before (a Swarm joined on running hosts stays, as
# `make test` would make it). Needs root (network namespaces, dockerds):
# skipped with a message otherwise.
#
# Environment: RUNS (default 3); NET_CALLS (1000); NET_BULK_MB (100);
# NETWORK_PARTS (default latency,bulk,up); NET_IMAGE (default
# devorch-test/testapp:latest, brought up to date with its sources by
# `go run ./cmd/testimages`; another tag is used as it is).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
runs=${RUNS:-3}
calls=${NET_CALLS:-1000}
bulk_mb=${NET_BULK_MB:-100}
parts=",${NETWORK_PARTS:-latency,bulk,up},"
image=${NET_IMAGE:-devorch-test/testapp:latest}
port=9771 # the callee's; an unusual one, published on h1's address in the link case
want() { [[ $parts == *",$1,"* ]]; }
die() { echo "bench network: $*" >&2; exit 1; }
# dep_of N and multihost_stack: the stack of part 3.
source bench/multihost/stack.sh

cases="same overlay link"
declare -A project=([same]=dvb-net-same [overlay]=dvb-net-overlay [link]=dvb-net-link [upj]=dvb-net-upj [upn]=dvb-net-upn)
declare -A label=([same]="same host, bridge" [overlay]="cross-host overlay" [link]="cross-host link")
declare -A vals=() addr=() times=()
spec_h1="" spec_h2="" spec_m="" spec_w=""
started_hosts=0
tmp=""
log=/dev/null

median() { tr ' ' '\n' <<<"$1" | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "?" }'; else printf '?'; fi; }
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }
# json_num KEY: the number KEY in the JSON object on stdin.
json_num() { sed -nE "s/.*\"$1\":(-?[0-9][0-9.eE+-]*).*/\1/p"; }
name_of() { echo "${1%%=*}"; }
endpoint_of() { local ep=${1#*=}; echo "${ep%%;*}"; }
out() { echo "$*" | tee -a "$tmp/report.txt"; }

# flags_of CASE sets the array flags to the case's --host flags.
flags_of() {
	case $1 in
	same) flags=(--host "$spec_h1") ;;
	overlay | upj) flags=(--host "$spec_m" --host "$spec_w") ;;
	link | upn) flags=(--host "$spec_h1" --host "$spec_h2") ;;
	*) die "unknown case $1" ;;
	esac
}

# dvc CASE ARGS... runs devorch on the case's hosts, project and file.
dvc() {
	local flags
	flags_of "$1"
	(cd "$tmp" && "$root/bin/devorch" "${flags[@]}" -p "${project[$1]}" -f "$tmp/$1.yaml" "${@:2}")
}

# pair_stack CALLEE_HOST CALLER_HOST EXPOSE prints the two-service stack:
# a host name pins the service (node.hostname, devorch's host name), ""
# leaves it to the scheduler; EXPOSE=1 declares the callee's port (the link
# fallback publishes declared ports only).
pair_stack() {
	echo "# bench/network/run.sh: caller calls callee on port $port"
	echo "services:"
	echo "  callee:"
	echo "    image: $image"
	echo "    environment: {NAME: callee, PORT: \"$port\"}"
	[ "$3" != 1 ] || echo "    expose: [\"$port\"]"
	echo '    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, timeout: 2s, retries: 3}'
	[ -z "$1" ] || echo "    deploy: {placement: {constraints: [\"node.hostname==$1\"]}}"
	echo "  caller:"
	echo "    image: $image"
	echo "    environment: {NAME: caller}"
	echo "    depends_on: {callee: {condition: service_healthy}}"
	[ -z "$2" ] || echo "    deploy: {placement: {constraints: [\"node.hostname==$2\"]}}"
}

# expect_kind CASE KIND: the dry run must show the default network as KIND
# (overlay, link fallback), or the comparison would be of something else.
expect_kind() {
	local dry
	dry=$(dvc "$1" --dry-run up -d 2>&1) || { echo "$dry" >>"$log"; die "$1: devorch --dry-run up failed (see the log)"; }
	echo "== $1 dry run:" >>"$log"
	echo "$dry" >>"$log"
	grep -qF "  default: $2 (" <<<"$dry" || die "$1: the dry run does not show the default network as '$2' (see the log)"
}

# cleanup removes the bench's projects from every test host it used
# (whatever a failed step left).
cleanup() (
	set +e
	local c ep p ids
	[ -n "$spec_h1" ] || exit 0
	for c in same overlay link upj upn; do
		[ -n "$spec_m" ] || [[ $c == same || $c == link || $c == upn ]] || continue
		[ -f "$tmp/$c.yaml" ] && dvc "$c" --progress quiet down -t 1
	done
	for ep in $(for s in "$spec_h1" "$spec_h2" "$spec_m" "$spec_w"; do [ -z "$s" ] || endpoint_of "$s"; done); do
		for p in "${project[@]}"; do
			ids=$(docker -H "$ep" ps -aq --filter "label=dev.devorch.project=$p")
			[ -z "$ids" ] || docker -H "$ep" rm -f $ids
			ids=$(docker -H "$ep" network ls -q --filter "label=dev.devorch.project=$p")
			[ -z "$ids" ] || docker -H "$ep" network rm $ids
		done
	done
	true
) >>"$log" 2>&1

# finish reports to fd 3, the script's own stderr.
finish() {
	local rc=$?
	if [ "$started_hosts" = 1 ]; then echo "bench network: stopping the test hosts it started" >&3; fi
	cleanup
	if [ "$started_hosts" = 1 ]; then scripts/testhosts.sh down >>"$log" 2>&1; fi
	if [ $rc != 0 ]; then
		echo "bench network: failed or interrupted (exit $rc); last lines of $log:" >&3
		tail -n 30 "$log" >&3
	fi
	rm -rf "$tmp"
}

# testhosts_var NAME: NAME's value in `scripts/testhosts.sh env`.
testhosts_var() { scripts/testhosts.sh env 2>>"$log" | sed -n "s/^export $1='\(.*\)'\$/\1/p"; }

# ensure_hosts starts what is missing of h1, h2 and the test Swarm, and sets
# spec_h1, spec_h2 and spec_m, spec_w (the Swarm's manager and a worker).
ensure_hosts() {
	local running top missing=0 i plain swarm
	running=$(scripts/testhosts.sh status 2>>"$log" | awk '$1 ~ /^h[0-9]+$/ && $2 == "running" { print substr($1, 2) }')
	for i in 1 2 5 6 9; do grep -qx "$i" <<<"$running" || missing=1; done
	if ((missing)); then
		top=$(sort -n <<<"$running" | tail -n1)
		top=$((${top:-0} > 9 ? top : 9))
		echo "starting test hosts h1..h$top (scripts/testhosts.sh up $top; $(awk NF <<<"$running" | wc -l) running before)" >&2
		[ -n "$running" ] || started_hosts=1
		DEVORCH_TESTHOST_IMAGES="$image" scripts/testhosts.sh up "$top" >>"$log" 2>&1 ||
			die "scripts/testhosts.sh up $top failed (see the log)"
	else
		echo "reusing the running test hosts" >&2
	fi
	swarm=$(testhosts_var DEVORCH_TEST_SWARM)
	if [ -z "$swarm" ]; then
		echo "joining h5, h6 and h9 into one Swarm (scripts/testhosts.sh swarm 5 6 9, as make test does)" >&2
		scripts/testhosts.sh swarm 5 6 9 >>"$log" 2>&1 || die "scripts/testhosts.sh swarm 5 6 9 failed (see the log)"
		swarm=$(testhosts_var DEVORCH_TEST_SWARM)
	fi
	plain=$(testhosts_var DEVORCH_TEST_HOSTS)
	spec_h1=$(tr ',' '\n' <<<"$plain" | grep '^h1=' || true)
	spec_h2=$(tr ',' '\n' <<<"$plain" | grep '^h2=' || true)
	spec_m=$(tr ',' '\n' <<<"$swarm" | sed -n 1p)
	spec_w=$(tr ',' '\n' <<<"$swarm" | sed -n 2p)
	if [ -z "$spec_h1" ] || [ -z "$spec_h2" ]; then die "h1 and h2 are not both plain running test hosts (scripts/testhosts.sh status)"; fi
	if [ -z "$spec_m" ] || [ -z "$spec_w" ]; then die "no test Swarm of two hosts (scripts/testhosts.sh status)"; fi
	scripts/testhosts.sh load "$image" >>"$log" 2>&1 || die "could not load $image into the test hosts"
}

# ensure_image makes sure the image has the bench and pull subcommands.
ensure_image() {
	if [ "$image" = devorch-test/testapp:latest ]; then
		echo "checking the test images (go run ./cmd/testimages)" >&2
		go run ./cmd/testimages >>"$log" 2>&1 || die "go run ./cmd/testimages failed (see the log)"
	fi
	docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing on the default daemon"
	local help
	help=$(docker run --rm --network none "$image" help 2>&1) || true
	grep -q '^  pull URL' <<<"$help" || die "$image has no 'testapp bench'/'pull' (built from older sources?)"
}

# measure_latency CASE MODE (off, on: keep-alive) runs one batch.
measure_latency() {
	local ka=() o
	[ "$2" = off ] || ka=(-keepalive)
	o=$(dvc "$1" exec -T caller /testapp bench -n "$calls" "${ka[@]}" "http://callee:$port/" 2>>"$log") ||
		die "$1: testapp bench (keep-alive $2) failed (see the log)"
	echo "== $1 latency, keep-alive $2: $o" >>"$log"
	vals[$1.$2.p50]+="$(json_num p50_ms <<<"$o") "
	vals[$1.$2.p99]+="$(json_num p99_ms <<<"$o") "
	addr[$1]=$(sed -nE 's/.*"addr":"([^"]*)".*/\1/p' <<<"$o")
}

# measure_bulk CASE runs one transfer.
measure_bulk() {
	local o
	o=$(dvc "$1" exec -T caller /testapp pull "http://callee:$port/bytes?n=${bulk_mb}000000" 2>>"$log") ||
		die "$1: testapp pull failed (see the log)"
	echo "== $1 bulk: $o" >>"$log"
	vals[$1.mbps]+="$(json_num mb_per_s <<<"$o") "
	addr[$1]=$(sed -nE 's/.*"addr":"([^"]*)".*/\1/p' <<<"$o")
}

# pairs_part: parts 1 and 2, on the three two-service stacks.
pairs_part() {
	local c i mode m
	pair_stack "" "" 0 >"$tmp/same.yaml"
	pair_stack "$(name_of "$spec_m")" "$(name_of "$spec_w")" 0 >"$tmp/overlay.yaml"
	pair_stack "$(name_of "$spec_h1")" "$(name_of "$spec_h2")" 1 >"$tmp/link.yaml"
	expect_kind overlay overlay
	expect_kind link "link fallback"
	for c in $cases; do
		echo "== up $c" >>"$log"
		dvc "$c" --progress plain up -d --wait >>"$log" 2>&1 || die "$c: up -d --wait failed (see the log)"
	done
	for ((i = 1; i <= runs; i++)); do
		echo "network run $i/$runs: latency and bulk" >&2
		for c in $cases; do
			if want latency; then
				for mode in off on; do measure_latency "$c" "$mode"; done
			fi
			if want bulk; then measure_bulk "$c"; fi
		done
	done
	want latency && latency_report
	want bulk && bulk_report
	for c in $cases; do
		dvc "$c" --progress plain down -t 1 >>"$log" 2>&1 || echo "bench network: $c: down failed (the cleanup retries)" >&2
	done
}

latency_report() {
	local c mode s50 s99 m50 m99 row
	out "request latency, ms: $calls sequential GET / per batch (20 untimed first), timed inside the caller"
	out "(testapp bench; the callee's name resolved once), median of $runs batches, ratio to the same host:"
	for mode in off on; do
		if [ $mode = off ]; then out "  new connection per call (keep-alive off):"; else out "  one kept-alive connection (keep-alive on):"; fi
		s50=$(median "${vals[same.$mode.p50]}") s99=$(median "${vals[same.$mode.p99]}")
		for c in $cases; do
			m50=$(median "${vals[$c.$mode.p50]}") m99=$(median "${vals[$c.$mode.p99]}")
			printf -v row '    %-50s p50 %7.3f (%sx)   p99 %7.3f (%sx)' "${label[$c]} ($(case_hosts "$c"))" \
				"$m50" "$(ratio "$m50" "$s50")" "$m99" "$(ratio "$m99" "$s99")"
			out "$row"
		done
	done
	m50=$(median "${vals[overlay.off.p50]}") s50=$(median "${vals[same.off.p50]}")
	out "  target: overlay p50 within 2x of the same host (keep-alive off): $(ratio "$m50" "$s50")x $(verdict "$m50 <= 2 * $s50")"
	out "  link / overlay p50 (keep-alive off): $(ratio "$(median "${vals[link.off.p50]}")" "$m50")x"
	for c in $cases; do
		out "  batches, p50 / p99 off; on: ${label[$c]}: $(paste -d/ <(tr ' ' '\n' <<<"${vals[$c.off.p50]}" | awk NF) <(tr ' ' '\n' <<<"${vals[$c.off.p99]}" | awk NF) | xargs); $(paste -d/ <(tr ' ' '\n' <<<"${vals[$c.on.p50]}" | awk NF) <(tr ' ' '\n' <<<"${vals[$c.on.p99]}" | awk NF) | xargs)"
	done
	out
}

bulk_report() {
	local c m mo ml row
	out "bulk transfer: GET of $bulk_mb MB (10^6 bytes) read to its last byte inside the caller (testapp pull), MB/s, median of $runs:"
	for c in $cases; do
		m=$(median "${vals[$c.mbps]}")
		printf -v row '  %-52s %8.1f   runs: %s' "${label[$c]} ($(case_hosts "$c"))" "$m" "$(xargs <<<"${vals[$c.mbps]}")"
		out "$row"
	done
	mo=$(median "${vals[overlay.mbps]}") ml=$(median "${vals[link.mbps]}")
	out "  ratio overlay / link: $(ratio "$mo" "$ml")x (overlay / same host: $(ratio "$mo" "$(median "${vals[same.mbps]}")")x)"
	out
}

# case_hosts CASE: "h1, 10.x.y.z:9771", "h6 -> h5, 10.x.y.z:9771": caller ->
# callee and the address the caller dialled.
case_hosts() {
	case $1 in
	same) echo "$(name_of "$spec_h1"), ${addr[same]:-?}" ;;
	overlay) echo "$(name_of "$spec_w") -> $(name_of "$spec_m"), ${addr[overlay]:-?}" ;;
	link) echo "$(name_of "$spec_h2") -> $(name_of "$spec_h1"), ${addr[link]:-?}" ;;
	esac
}

# timed NAME CMD... appends CMD's wall time to times[NAME] (a failed down
# is reported, not fatal).
timed() {
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

# up_part: part 3, the 30-service stack on joined vs plain hosts, the order
# alternating between runs.
up_part() {
	local i c order mj mn row
	multihost_stack "$image" >"$tmp/upj.yaml"
	cp "$tmp/upj.yaml" "$tmp/upn.yaml"
	expect_kind upj overlay
	expect_kind upn "link fallback"
	down_errors=""
	for ((i = 1; i <= runs; i++)); do
		echo "network run $i/$runs: up of the 30-service stack" >&2
		order="upj upn"
		((i % 2)) || order="upn upj"
		for c in $order; do
			timed "$c.up" dvc "$c" --progress plain up -d --wait
			timed "$c.down" dvc "$c" --progress plain down -t 1
		done
	done
	mj=$(median "${times[upj.up]}") mn=$(median "${times[upn.up]}")
	out "30 services (bench/multihost/stack.sh), up -d --wait on 2 hosts, median of $runs (s):"
	printf -v row '  %-44s %6.2f   runs: %s' "Swarm-joined ($(name_of "$spec_m"), $(name_of "$spec_w")): overlay" "$mj" "$(xargs <<<"${times[upj.up]}")"
	out "$row"
	printf -v row '  %-44s %6.2f   runs: %s' "not joined ($(name_of "$spec_h1"), $(name_of "$spec_h2")): link fallback" "$mn" "$(xargs <<<"${times[upn.up]}")"
	out "$row"
	out "  ratio joined / not joined: $(ratio "$mj" "$mn")x"
	printf -v row '  %-44s %6.2f / %.2f' "down, joined / not joined (s)" "$(median "${times[upj.down]}")" "$(median "${times[upn.down]}")"
	out "$row"
	[ -z "$down_errors" ] || out "  down errors (resources left are removed by the cleanup): $down_errors"
	out
}

main() {
	tmp=$(mktemp -d -t dvb-network.XXXXXX)
	log=$tmp/bench.log
	exec 3>&2
	trap finish EXIT
	trap 'exit 130' INT TERM
	: >"$tmp/report.txt"
	out "devorch network bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	out
	if ((EUID != 0)); then
		out "network (latency, bulk, up on Swarm vs plain hosts): SKIPPED: needs root (scripts/testhosts.sh creates network namespaces, veths, iptables rules and dockerds); run 'sudo make bench' or leave network out of BENCH_PARTS"
		return 0
	fi
	[ -x bin/devorch ] || die "bin/devorch is missing: run 'make build' (or 'make bench')"
	docker info >/dev/null 2>&1 || die "Docker is not reachable ('docker info' failed)"
	ensure_image
	ensure_hosts
	out "hosts: $(name_of "$spec_h1"), $(name_of "$spec_h2") plain; $(name_of "$spec_m") (manager), $(name_of "$spec_w") one Swarm; image $image"
	out
	cleanup
	if want latency || want bulk; then pairs_part; fi
	if want up; then up_part; fi
	mkdir -p bench/results
	cp "$tmp/report.txt" "bench/results/$(date -u +%Y%m%d-%H%M%S)-network.txt"
}

# Sourcing the file (a smoke test of its functions) runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
