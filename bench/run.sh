#!/usr/bin/env bash
# run.sh measures devorch and docker-compose against the floor (bench/floor:
# the raw Docker API with nothing in between) on this machine, and checks
# the targets. `make bench` runs it after building bin/devorch.
#
# Stack: 20 services of devorch-test/testapp in 4 tiers of 5 (dependency
# depth 3), each depending on two services of the tier below with
# service_healthy, healthcheck every 1 s. Chain: 5 services, each waiting
# for the previous one to be healthy.
#
# Environment: RUNS (default 3) repetitions, the median is reported;
# COMPOSE (default docker-compose) the command to compare with;
# BENCH_PARTS (default core,hotreload,multihost,network,swarm,tune) which
# parts to run: core is this table, the others are bench/<part>/run.sh, run
# after it (multihost, network, swarm and tune need root for the extra
# Docker hosts, and say so when skipped).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-3}
compose_cmd=${COMPOSE:-docker-compose}

die() { echo "bench: $*" >&2; exit 1; }

[ -x bin/devorch ] || die "bin/devorch is missing: run 'make build' (or 'make bench')"
docker info >/dev/null 2>&1 || die "Docker is not reachable ('docker info' failed); the bench needs a Docker daemon"
if ! docker image inspect devorch-test/testapp:latest >/dev/null 2>&1; then
	echo "building the test image devorch-test/testapp:latest (go run ./cmd/testimages)"
	go run ./cmd/testimages
fi
# The other parts run after the core table, each with its own cleanup.
bench_parts=",${BENCH_PARTS:-core,hotreload,multihost,network,swarm,tune},"
other_parts() {
	local part rc=0
	for part in hotreload multihost network swarm tune; do
		[[ $bench_parts == *",$part,"* ]] || continue
		echo
		"bench/$part/run.sh" || { rc=$?; echo "bench: the $part part failed (exit $rc)" >&2; [ $rc != 130 ] || return $rc; }
	done
	return $rc
}
if [[ $bench_parts != *",core,"* ]]; then
	other_parts
	exit
fi

have_compose=1
command -v "$compose_cmd" >/dev/null 2>&1 || { have_compose=0; echo "bench: $compose_cmd not found, its column stays empty" >&2; }

# Every tool gets its own projects and its own copy of the compose files; the
# "one changed" step overwrites the stack file in place (same path, so only
# the service itself differs).
P_FLOOR=dvb-floor P_FLOOR_CHAIN=dvb-floor-chain
P_DEV=dvb-dev P_DEV_CHAIN=dvb-dev-chain
P_DC=dvb-compose P_DC_CHAIN=dvb-compose-chain
tmp=$(mktemp -d)
log=$tmp/bench.log
floor=$tmp/floor
dev() { bin/devorch -p "$1" -f "$2" "${@:3}"; }
dc() { "$compose_cmd" -p "$1" -f "$2" "${@:3}"; }

# cleanup removes everything the bench may have created; it runs in a
# subshell so that its set +e stays there.
cleanup() (
	set +e
	if [ -x "$floor" ]; then
		"$floor" -p $P_FLOOR down
		"$floor" -shape chain -p $P_FLOOR_CHAIN down
	fi
	for d in devorch compose; do
		for f in stack chain; do
			[ -f "$tmp/$d/$f.yaml" ] || { mkdir -p "$tmp/$d" && cp "$tmp/$f.yaml" "$tmp/$d/$f.yaml"; }
		done
	done
	dev $P_DEV "$tmp/devorch/stack.yaml" down
	dev $P_DEV_CHAIN "$tmp/devorch/chain.yaml" down
	if [ $have_compose = 1 ]; then
		dc $P_DC "$tmp/compose/stack.yaml" down
		dc $P_DC_CHAIN "$tmp/compose/chain.yaml" down
	fi
	# Whatever a failed step left behind: only this bench's projects
	# (other runs, or other people, may use dvb- names too).
	for p in $P_FLOOR $P_FLOOR_CHAIN $P_DEV $P_DEV_CHAIN $P_DC $P_DC_CHAIN; do
		for label in dev.devorch.project com.docker.compose.project dvb.project; do
			ids=$(docker ps -aq --filter "label=$label=$p")
			[ -z "$ids" ] || docker rm -f $ids
		done
		for n in "${p}_default" "$p"; do
			docker network rm "$n" 2>/dev/null
		done
	done
	true
) >>"$log" 2>&1

# finish reports to fd 3, the script's own stderr: a signal can arrive while
# a shell function's output is redirected to the log.
exec 3>&2
finish() {
	local rc=$?
	cleanup
	if [ $rc != 0 ]; then
		echo "bench: failed or interrupted (exit $rc); last lines of $log:" >&3
		tail -n 30 "$log" >&3
	else
		rm -rf "$tmp"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

mkdir -p bench/results "$tmp/devorch" "$tmp/compose"
go build -o "$floor" ./bench/floor
"$floor" compose >"$tmp/stack.yaml"
"$floor" -bump t3s4 compose >"$tmp/stack-changed.yaml"
"$floor" -shape chain compose >"$tmp/chain.yaml"

# timed NAME CMD... runs CMD (output to the log) and appends its wall time in
# seconds to the list NAME.
declare -A times
timed() {
	local name=$1
	shift
	echo "== $name: $*" >>"$log"
	local start=$EPOCHREALTIME
	"$@" >>"$log" 2>&1 || die "$name failed: $*"
	local end=$EPOCHREALTIME
	times[$name]+="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') "
}

median() { tr ' ' '\n' <<<"$1" | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

cleanup
load=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 1; i <= runs; i++)); do
	echo "run $i/$runs" >&2
	timed floor.cold "$floor" -p $P_FLOOR -wait up
	timed floor.same "$floor" -p $P_FLOOR noop
	timed floor.changed "$floor" -p $P_FLOOR -bump t3s4 recreate
	timed floor.down "$floor" -p $P_FLOOR down
	timed floor.chain "$floor" -shape chain -p $P_FLOOR_CHAIN up
	"$floor" -shape chain -p $P_FLOOR_CHAIN down >>"$log" 2>&1

	f=$tmp/devorch/stack.yaml
	cp "$tmp/stack.yaml" "$f"
	cp "$tmp/chain.yaml" "$tmp/devorch/chain.yaml"
	timed devorch.cold dev $P_DEV "$f" up -d --wait
	timed devorch.same dev $P_DEV "$f" up -d
	cp "$tmp/stack-changed.yaml" "$f"
	timed devorch.changed dev $P_DEV "$f" up -d
	timed devorch.down dev $P_DEV "$f" down
	timed devorch.chain dev $P_DEV_CHAIN "$tmp/devorch/chain.yaml" up -d
	dev $P_DEV_CHAIN "$tmp/devorch/chain.yaml" down >>"$log" 2>&1

	if [ $have_compose = 1 ]; then
		f=$tmp/compose/stack.yaml
		cp "$tmp/stack.yaml" "$f"
		cp "$tmp/chain.yaml" "$tmp/compose/chain.yaml"
		timed compose.cold dc $P_DC "$f" up -d
		timed compose.same dc $P_DC "$f" up -d
		cp "$tmp/stack-changed.yaml" "$f"
		timed compose.changed dc $P_DC "$f" up -d
		timed compose.down dc $P_DC "$f" down
		timed compose.chain dc $P_DC_CHAIN "$tmp/compose/chain.yaml" up -d
		dc $P_DC_CHAIN "$tmp/compose/chain.yaml" down >>"$log" 2>&1
	fi
done

# m TOOL.SCENARIO prints the median, or nothing when not measured.
m() { median "${times[$1]:-}"; }
ratio() {
	if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else printf '?'; fi
}
cell() { # seconds, reference
	[ -n "$1" ] || { echo "n/a"; return; }
	printf '%.2f (%sx)' "$1" "$(ratio "$1" "$2")"
}
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }

report=$tmp/report.txt
{
	echo "devorch bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Docker $(docker version -f '{{.Server.Version}}')"
	echo "compose = $compose_cmd $([ $have_compose = 1 ] && $compose_cmd version --short 2>/dev/null)"
	echo "median of $runs runs; load average before: $load"
	echo
	printf '%-32s %8s  %-20s %-20s  %-42s %s\n' scenario "floor s" "devorch s (x floor)" "compose s (x floor)" "target: measured" result
	row() { # label key target-text condition
		local fl dv dc
		fl=$(m "floor.$2") dv=$(m "devorch.$2") dc=$(m "compose.$2")
		local res=MISS
		if [ -z "$dv" ] || { [[ $4 == *dc* ]] && [ -z "$dc" ]; }; then
			res=n/a
		else
			local cond=${4//dv/$dv}
			cond=${cond//dc/${dc:-0}}
			cond=${cond//fl/$fl}
			res=$(verdict "$cond")
		fi
		printf '%-32s %8.2f  %-20s %-20s  %-42s %s\n' "$1" "$fl" "$(cell "$dv" "$fl")" "$(cell "$dc" "$fl")" "$3" "$res"
	}
	row "cold up (20 svc, depth 3)" cold "devorch <= 1.15x floor: $(ratio "$(m devorch.cold)" "$(m floor.cold)")x" "dv <= 1.15*fl"
	row "up -d, nothing changed" same "< 0.25 s and <= 0.25x compose: $(ratio "$(m devorch.same)" "$(m compose.same)")x" "dv < 0.25 && dv <= 0.25*dc"
	row "up -d, one service changed" changed "<= 0.5x compose: $(ratio "$(m devorch.changed)" "$(m compose.changed)")x" "dv <= 0.5*dc"
	row "down" down "devorch <= 1.15x floor: $(ratio "$(m devorch.down)" "$(m floor.down)")x" "dv <= 1.15*fl"
	row "chain of 5 health gates, up -d" chain "<= 0.8x compose: $(ratio "$(m devorch.chain)" "$(m compose.chain)")x" "dv <= 0.8*dc"
	echo
	echo "cold up: floor and devorch (up -d --wait) return when all 20 are healthy; docker-compose v1's up -d"
	echo "returns once the last tier is started (it waits only for health-gated dependencies)."
	echo "chain: all three return once c5 is started (c1..c4 healthy)."
	echo "floor for 'nothing changed': one container list; for 'one changed': create the new container while"
	echo "the old one stops and is removed, rename, start (bench/floor)."
	echo
	echo "all runs (s):"
	for k in $(printf '%s\n' "${!times[@]}" | sort); do printf '  %-16s %s\n' "$k" "${times[$k]}"; done
} >"$report"
cat "$report"
cp "$report" "bench/results/$(date -u +%Y%m%d-%H%M%S).txt"

# Core done: clean up now (the trap would do it at exit), then the others.
trap - EXIT INT TERM
cleanup || echo "bench: core cleanup reported errors (a dvb- network or container it could not remove)" >&2
rm -rf "$tmp"
other_parts
