#!/usr/bin/env bash
# run.sh measures what the usage history does for placement (issue 12,
# "Placement figure"): 30 services of known, unequal memory use (10 holding
# 160 MiB, 10 holding 60 MiB, 10 holding 20 MiB: testapp's HOLD_MEM, in a
# fixed shuffled order of names), none declaring reservations, placed by
# devorch on 3 test hosts (h1, h2, h3) with the spread strategy:
#
#  without  a fresh usage history: `up -d --wait`, then the memory the
#           project's containers use on each host (docker stats), max/min;
#  with     after `devorch stats --record 40s` of that stack and `down`,
#           the same `up` places by the recorded use (soft reservations);
#           max/min again.
#
# Target: with history, the busiest host uses <= 1.3x the memory of the
# least busy. The history lives in a temporary XDG_STATE_HOME.
#
# Hosts: h1-h3 of scripts/testhosts.sh (started with `up 9` when missing,
# stopped at the end if this script started them). Needs root.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
image=devorch-test/testapp:latest
project=dvb-tune
die() { echo "bench tune: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
	echo "bench tune: skipped (the test Docker hosts need root)"
	exit 0
fi
[ -x bin/devorch ] || die "bin/devorch is missing: run make build"
tmp=$(mktemp -d)
log=$tmp/log
started_hosts=0
specs=() eps=()
export XDG_STATE_HOME=$tmp/state

dv() {
	local flags=() s
	for s in "${specs[@]}"; do flags+=(--host "$s"); done
	(cd "$tmp" && "$root/bin/devorch" --progress quiet "${flags[@]}" -p "$project" -f "$tmp/compose.yaml" "$@")
}

finish() {
	local rc=$?
	[ ${#specs[@]} = 0 ] || dv down -t 1 >>"$log" 2>&1 || true
	if [ "$started_hosts" = 1 ]; then scripts/testhosts.sh down >>"$log" 2>&1; fi
	if [ $rc != 0 ]; then
		echo "bench tune: failed or interrupted (exit $rc); last lines of $log:" >&2
		tail -n 30 "$log" >&2
	fi
	rm -rf "$tmp"
}
trap finish EXIT

testhosts_var() { scripts/testhosts.sh env 2>>"$log" | sed -n "s/^export $1='\(.*\)'\$/\1/p"; }
running=$(scripts/testhosts.sh status 2>>"$log" | awk '$1 ~ /^h[0-9]+$/ && $2 == "running" { print substr($1, 2) }')
missing=0
for i in 1 2 3; do grep -qx "$i" <<<"$running" || missing=1; done
if ((missing)); then
	echo "starting test hosts (scripts/testhosts.sh up 9)" >&2
	[ -n "$running" ] || started_hosts=1
	DEVORCH_TESTHOST_IMAGES="$image" scripts/testhosts.sh up 9 >>"$log" 2>&1 || die "scripts/testhosts.sh up 9 failed (see $log)"
fi
plain=$(testhosts_var DEVORCH_TEST_HOSTS)
for h in h1 h2 h3; do
	s=$(tr ',' '\n' <<<"$plain" | grep "^$h=" || true)
	[ -n "$s" ] || die "$h is not a running plain test host"
	specs+=("$s")
	ep=${s#*=}
	eps+=("${ep%%;*}")
done
scripts/testhosts.sh load "$image" >>"$log" 2>&1 || die "could not load $image into the test hosts"

# The stack: sizes in a fixed shuffled order of service names.
sizes=$(for i in $(seq 10); do echo 160; echo 60; echo 20; done | awk 'BEGIN { srand(12) } { print rand() "\t" $0 }' | sort -k1,1 | cut -f2)
{
	echo "services:"
	i=0
	for m in $sizes; do
		i=$((i + 1))
		printf '  s%02d:\n    image: %s\n    environment: {HOLD_MEM: "%sM"}\n' "$i" "$image" "$m"
	done
} >"$tmp/compose.yaml"

# spread prints each host's memory use by the project (MiB) and max/min.
spread() {
	local ep per=() total max=0 min=0
	for ep in "${eps[@]}"; do
		total=$(docker -H "$ep" ps -q --filter "label=dev.devorch.project=$project" | xargs -r docker -H "$ep" stats --no-stream --format '{{.MemUsage}}' |
			awk '{ v = $1; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v); f = (u == "GiB") ? 1024 : (u == "MiB") ? 1 : (u == "KiB") ? 1 / 1024 : 1 / 1048576; s += v * f } END { printf "%.0f", s }')
		per+=("$total")
	done
	max=$(printf '%s\n' "${per[@]}" | sort -g | tail -n1)
	min=$(printf '%s\n' "${per[@]}" | sort -g | head -n1)
	echo "${per[*]} $(awk -v a="$max" -v b="$min" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }')"
}

echo "bench tune: 30 services (10x160, 10x60, 10x20 MiB) on h1-h3; log: $log" >&2
dv up -d --wait >>"$log" 2>&1 || die "up failed (see $log)"
read -r a b c without <<<"$(spread)"
echo "without history: h1 ${a} MiB, h2 ${b} MiB, h3 ${c} MiB: max/min ${without}" >&2
dv stats --record 40s >>"$log" 2>&1 || die "stats --record failed (see $log)"
dv down -t 1 >>"$log" 2>&1 || die "down failed"
dv --dry-run up -d >"$tmp/dry" 2>>"$log" || die "dry run failed"
grep -q "SOFT RESERVATIONS" "$tmp/dry" || die "the dry run does not say it used the recorded usage"
dv up -d --wait >>"$log" 2>&1 || die "up with history failed (see $log)"
read -r a b c with <<<"$(spread)"
echo "with history:    h1 ${a} MiB, h2 ${b} MiB, h3 ${c} MiB: max/min ${with}" >&2

printf '\n%-44s %10s %10s  %s\n' "placement by recorded usage" without with target
printf '%-44s %10s %10s  %s\n' "busiest / least busy host, memory (30 svc)" "${without}x" "${with}x" \
	"<= 1.3x $(awk -v w="$with" 'BEGIN { exit !(w <= 1.3) }' && echo PASS || echo MISS)"
