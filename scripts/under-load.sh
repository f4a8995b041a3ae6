#!/usr/bin/env bash
# under-load.sh — run a command while the machine is busy the way a shared CI
# machine is, to show the suite holds there too (make test-under-load).
#
#   scripts/under-load.sh [--runs N] [--] COMMAND...   run COMMAND N times in a row under load
#   scripts/under-load.sh --duration SECONDS           only make load, for SECONDS
#   scripts/under-load.sh                               only make load, until Ctrl-C
#
# The load: LOAD_CPU (default 3, more than a 2-core machine has) processes that
# each keep a core busy, one loop of `docker info` and one of
# `docker run --rm devorch-test/busybox:latest true` (the image make
# test-images builds). It starts before the first run, is stopped whatever
# happens (exit, error, Ctrl-C), and each run's wall time is printed. The
# runs stop at the first failure; the exit status is that run's.
set -Eeuo pipefail

readonly CPU=${LOAD_CPU:-3}
readonly IMAGE=${LOAD_IMAGE:-devorch-test/busybox:latest}

usage() {
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

runs=1 duration=
while (($#)); do
	case $1 in
	--runs) runs=${2:?--runs needs a number}; shift 2 ;;
	--duration) duration=${2:?--duration needs seconds}; shift 2 ;;
	--) shift; break ;;
	-h | --help) usage ;;
	-*) echo "under-load: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "under-load: --runs $runs: want a positive number" >&2; exit 2; }
[[ -z $duration || $duration =~ ^[1-9][0-9]*$ ]] || { echo "under-load: --duration $duration: want seconds" >&2; exit 2; }
if (($# > 0)) && [[ -n $duration ]]; then
	echo "under-load: --duration is for load only, not with a command" >&2
	exit 2
fi

docker info >/dev/null 2>&1 || { echo "under-load: no Docker daemon answers (docker info failed)" >&2; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "under-load: image $IMAGE is missing (make test-images builds it)" >&2; exit 1; }

state=$(mktemp -d "${TMPDIR:-/tmp}/under-load.XXXXXX")
pids=() loops=() # CPU burners, Docker loops

stop_load() {
	((${#pids[@]} + ${#loops[@]})) || return 0
	# The burners end at once; the Docker loops finish the call they are in
	# (a docker run killed between create and start would leave a container).
	touch "$state/stop"
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" "${loops[@]}" 2>/dev/null || true
	pids=() loops=()
	echo "under-load: load stopped ($(cat "$state/info" 2>/dev/null || echo 0) docker info, $(cat "$state/run" 2>/dev/null || echo 0) docker run)" >&2
	rm -rf "$state"
}
trap stop_load EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each load process is a subshell of its own. The burners are ended by pid;
# the Docker loops stop at the stop file and count their calls, so the
# summary shows the daemon was kept busy.
for ((i = 0; i < CPU; i++)); do
	( trap - EXIT INT TERM; while :; do :; done ) &
	pids+=($!)
done
(
	trap - EXIT INT TERM
	n=0
	until [[ -e $state/stop ]]; do
		docker info >/dev/null 2>&1 || true
		echo $((++n)) >"$state/info"
	done
) &
loops+=($!)
(
	trap - EXIT INT TERM
	n=0
	until [[ -e $state/stop ]]; do
		docker run --rm --label dev.devorch.test=1 "$IMAGE" true >/dev/null 2>&1 || true
		echo $((++n)) >"$state/run"
	done
) &
loops+=($!)
echo "under-load: $CPU CPU burners (pids ${pids[*]}), a docker info loop and a docker run loop (pids ${loops[*]}) on $(nproc) cores" >&2

if (($# == 0)); then
	if [[ -n $duration ]]; then
		sleep "$duration" # the load's own lifetime, not a test's wait
	else
		echo "under-load: Ctrl-C stops the load" >&2
		wait
	fi
	exit 0
fi

status=0 total=0
for ((r = 1; r <= runs; r++)); do
	start=$EPOCHREALTIME
	"$@" || status=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	total=$(awk -v a="$total" -v b="$secs" 'BEGIN { printf "%.1f", a + b }')
	if ((status == 0)); then
		echo "under-load: run $r/$runs passed in ${secs}s (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	else
		echo "under-load: run $r/$runs FAILED (exit $status) after ${secs}s" >&2
		break
	fi
done
echo "under-load: $((status == 0 ? runs : r - 1))/$runs runs passed, ${total}s in all" >&2
exit "$status"
