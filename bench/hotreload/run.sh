#!/usr/bin/env bash
# run.sh measures devorch's hot reload (`devorch watch`): one-file edit to
# visible in the container (p50/p95 of 50), a 1,000-file burst (time and
# number of batches), rebuild to healthy, and devorch's CPU while watching an
# idle 50,000-file tree. What and how: bench/hotreload/main.go. bench/run.sh
# calls it after the core table (BENCH_PARTS); it also runs on its own.
#
# Environment: HOTRELOAD_ARGS, extra flags for the program (e.g.
# "-edits 20 -idle 10s"; see `go run ./bench/hotreload -h`).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() { echo "bench hotreload: $*" >&2; exit 1; }

[ -x bin/devorch ] || die "bin/devorch is missing: run 'make build' (or 'make bench')"
docker info >/dev/null 2>&1 || die "Docker is not reachable ('docker info' failed)"
for img in devorch-test/testapp:latest devorch-test/busybox:latest; do
	if ! docker image inspect "$img" >/dev/null 2>&1; then
		echo "building the test images (go run ./cmd/testimages)"
		go run ./cmd/testimages
		break
	fi
done

projects="dvb-hotreload dvb-hotreload-idle"
tmp=$(mktemp -d -t dvb-hotreload.XXXXXX)
log=$tmp/cleanup.log

# cleanup removes whatever the program left (it cleans up after itself;
# this is for a crash or a SIGKILL).
cleanup() (
	set +e
	for p in $projects; do
		(cd "$tmp" && "$root/bin/devorch" -p "$p" --progress quiet down -t 1 --rmi local)
		ids=$(docker ps -aq --filter "label=dev.devorch.project=$p")
		[ -z "$ids" ] || docker rm -f $ids
		ids=$(docker network ls -q --filter "label=dev.devorch.project=$p")
		[ -z "$ids" ] || docker network rm $ids
		ids=$(docker images -aq --filter "label=dev.devorch.project=$p")
		[ -z "$ids" ] || docker rmi -f $ids
	done
) >>"$log" 2>&1

exec 3>&2
finish() {
	local rc=$?
	cleanup
	if [ $rc != 0 ]; then
		echo "bench hotreload: failed or interrupted (exit $rc)" >&3
		for f in "$tmp"/work/*-watch.log; do
			[ -f "$f" ] || continue
			echo "--- last lines of $(basename "$f"):" >&3
			tail -n 20 "$f" >&3
		done
	fi
	rm -rf "$tmp"
}
trap finish EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/work" bench/results
go build -o "$tmp/hotreload" ./bench/hotreload
# shellcheck disable=SC2086 # HOTRELOAD_ARGS is a list of flags
"$tmp/hotreload" -devorch bin/devorch -dir "$tmp/work" ${HOTRELOAD_ARGS:-} | tee "$tmp/report.txt"
cp "$tmp/report.txt" "bench/results/$(date -u +%Y%m%d-%H%M%S)-hotreload.txt"
