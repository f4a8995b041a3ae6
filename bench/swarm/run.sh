#!/usr/bin/env bash
# run.sh measures devorch's Swarm target (issue 11, "Figures") against
# `docker stack deploy` on the same compose file and the same three-node
# test Swarm (h5 manager, h6 and h9 workers, as `make test` makes it), as
# ratios within one run. Each figure is the time until every task runs:
#
#  cold      the 20-service bench stack on an empty Swarm;
#  one       one service's environment changed, until its new task runs;
#  nothing   the same file again;
#  remove    until no task container is left on any node (and, for
#            devorch, the networks are gone: down waits for that).
#
# devorch: `devorch --target swarm up -d --wait` (it returns once every task
# runs and is healthy) and `down`. docker: the docker CLI on this machine
# (20.10, whose `stack deploy` has no --detach=false), so `docker stack
# deploy --resolve-image never` then a wait (below) until `docker service
# ls` shows every service's replicas running and no update under way, and
# `docker stack rm` then a wait until the nodes hold none of its
# containers; the wait polls every 0.1 s, and is part of the time. The
# stack names its image by tag, as compose files do: Swarm's nodes then try
# the registry before each task starts (there is none here), which devorch
# avoids by naming images by ID. Every service has a 1 s healthcheck.
#
# With a registry (when Debian's docker-registry is installed, as `make
# test` installs it): a registry on this machine's side of h5's link, the
# image pushed to it, and
#
#  reg cold     the stack on an empty Swarm: `devorch up -d --wait
#               --registry R` (it pushes the image and names it by digest)
#               against `docker stack deploy --resolve-image always` of the
#               file naming R/devorch-test/testapp:latest (the CLI asks the
#               registry for its digest), then the same wait;
#  reg nothing  the same again.
#
# Targets: cold <= 0.9x, one changed <= 0.5x, nothing changed < 0.3 s (for
# devorch). Median of RUNS (default 3).
#
# Hosts: the test Swarm (DEVORCH_TEST_SWARM). When h5, h6 or h9 is not
# running, `scripts/testhosts.sh up 9` starts them and `swarm 5 6 9` joins
# them; hosts it started are stopped at the end. Needs root.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
runs=${RUNS:-3}
services=${SWARM_SERVICES:-20}
image=devorch-test/testapp:latest
die() { echo "bench swarm: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
	echo "bench swarm: skipped (the test Swarm's Docker hosts need root)"
	exit 0
fi
[ -x bin/devorch ] || die "bin/devorch is missing: run make build"

tmp=$(mktemp -d)
log=$tmp/log
started_hosts=0
P_DEV=dvb-swarm-dev P_DOCKER=dvb-swarm-docker
mgr="" specs=() eps=() reg="" reg_pid=""

median() { tr ' ' '\n' <<<"$1" | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "?" }'; }
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

cleanup() (
	set +e
	[ -n "$mgr" ] || exit 0
	dv "$P_DEV" down -v -t 1
	dk stack rm "$P_DOCKER"
	wait_docker_gone
	if [ -n "$reg" ]; then # the registry's names on the nodes (the image stays)
		for ep in "${eps[@]}"; do
			docker -H "$ep" images --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}' | awk -v r="$reg/" 'index($1, r) == 1 { if ($2 != "<none>") print $1 ":" $2; if ($3 != "<none>") print $1 "@" $3 }' | xargs -r docker -H "$ep" rmi
		done
	fi
	[ -z "$reg_pid" ] || kill "$reg_pid"
	true
) >>"$log" 2>&1

finish() {
	local rc=$?
	cleanup
	if [ "$started_hosts" = 1 ]; then scripts/testhosts.sh down >>"$log" 2>&1; fi
	if [ $rc != 0 ]; then
		echo "bench swarm: failed or interrupted (exit $rc); last lines of $log:" >&2
		tail -n 30 "$log" >&2
	fi
	rm -rf "$tmp"
}
trap finish EXIT

testhosts_var() { scripts/testhosts.sh env 2>>"$log" | sed -n "s/^export $1='\(.*\)'\$/\1/p"; }

ensure_hosts() {
	local running i missing=0 swarm
	running=$(scripts/testhosts.sh status 2>>"$log" | awk '$1 ~ /^h[0-9]+$/ && $2 == "running" { print substr($1, 2) }')
	for i in 5 6 9; do grep -qx "$i" <<<"$running" || missing=1; done
	if ((missing)); then
		echo "starting test hosts (scripts/testhosts.sh up 9)" >&2
		[ -n "$running" ] || started_hosts=1
		DEVORCH_TESTHOST_IMAGES="$image" scripts/testhosts.sh up 9 >>"$log" 2>&1 || die "scripts/testhosts.sh up 9 failed (see $log)"
	fi
	swarm=$(testhosts_var DEVORCH_TEST_SWARM)
	if [ "$(tr ',' '\n' <<<"$swarm" | awk NF | wc -l)" -lt 3 ]; then
		scripts/testhosts.sh swarm 5 6 9 >>"$log" 2>&1 || die "scripts/testhosts.sh swarm 5 6 9 failed (see $log)"
		swarm=$(testhosts_var DEVORCH_TEST_SWARM)
	fi
	mapfile -t specs < <(tr ',' '\n' <<<"$swarm" | awk NF)
	[ "${#specs[@]}" -ge 3 ] || die "no test Swarm of three hosts"
	for s in "${specs[@]}"; do
		local ep=${s#*=}
		eps+=("${ep%%;*}")
	done
	mgr=${eps[0]}
	scripts/testhosts.sh load "$image" >>"$log" 2>&1 || die "could not load $image into the test hosts"
}

# dv PROJECT ARGS... runs devorch on the Swarm; dk ARGS... the docker CLI on
# its manager.
dv() {
	local p=$1 flags=() s
	shift
	for s in "${specs[@]}"; do flags+=(--host "$s"); done
	(cd "$tmp" && "$root/bin/devorch" --progress quiet "${flags[@]}" --target swarm -p "$p" -f "$tmp/stack.yaml" "$@")
}
dk() { docker -H "$mgr" "$@"; }

# stack CHANGED prints the bench stack; CHANGED is s01's GEN value.
stack() {
	local i
	echo "services:"
	for ((i = 1; i <= services; i++)); do
		printf '  s%02d:\n' "$i"
		echo "    image: $image"
		printf '    environment: {NAME: s%02d, GEN: "%s"}\n' "$i" "$([ "$i" = 1 ] && echo "$1" || echo 0)"
		echo '    healthcheck: {test: ["CMD", "/testapp", "health"], interval: 1s, timeout: 2s, retries: 3}'
	done
}

# wait_docker_converged: every service of the docker stack has all its
# replicas running and no update under way.
wait_docker_converged() {
	local deadline=$((SECONDS + 600)) lines
	while ((SECONDS < deadline)); do
		lines=$(dk service ls --filter "label=com.docker.stack.namespace=$P_DOCKER" --format '{{.Replicas}}' 2>/dev/null || true)
		if [ "$(awk NF <<<"$lines" | wc -l)" = "$services" ] && ! awk -F/ '$1 != $2 { bad = 1 } END { exit !bad }' <<<"$(sed 's/ .*//' <<<"$lines")"; then
			if ! dk service ls -q --filter "label=com.docker.stack.namespace=$P_DOCKER" | xargs docker -H "$mgr" service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' | grep -qE 'updating|rollback_started'; then
				return 0
			fi
		fi
		sleep 0.1
	done
	die "the docker stack did not converge in 600 s"
}

# wait_docker_updated SERVICE START: the service's one task desired
# running was created at or after START (epoch seconds), and runs. (Swarm
# 20.10 leaves UpdateStatus empty after a stack deploy's update, so the
# task is what tells.)
wait_docker_updated() {
	local deadline=$((SECONDS + 600)) ids states
	while ((SECONDS < deadline)); do
		ids=$(dk service ps -q --filter desired-state=running "$1" 2>/dev/null || true)
		if [ "$(awk NF <<<"$ids" | wc -l)" = 1 ]; then
			states=$(dk inspect --format '{{.CreatedAt.Unix}} {{.Status.State}}' $ids 2>/dev/null || true)
			if [[ $states == *" running" ]] && ((${states%% *} >= ${2%.*})); then
				return 0
			fi
		fi
		sleep 0.1
	done
	die "service $1 did not finish its update in 600 s"
}

# wait_docker_gone: no node holds a container of the docker stack.
wait_docker_gone() {
	local deadline=$((SECONDS + 600)) ep n
	while ((SECONDS < deadline)); do
		n=0
		for ep in "${eps[@]}"; do
			n=$((n + $(docker -H "$ep" ps -aq --filter "label=com.docker.stack.namespace=$P_DOCKER" | wc -l)))
		done
		[ "$n" = 0 ] && return 0
		sleep 0.1
	done
	die "the docker stack's containers are still there after 600 s"
}

# start_registry runs docker-registry on this machine's address on h5's
# link (the test hosts trust plain HTTP on 10.251.0.0/16) and pushes the
# image to it from h5; reg is its address, empty when there is no
# docker-registry.
start_registry() {
	command -v docker-registry >/dev/null || { echo "bench swarm: no docker-registry: the registry figures are skipped" >&2; return 0; }
	local a=${specs[0]#*address=} port
	a=${a%%;*}
	for port in $(seq 15000 15050); do
		ss -ltn "( sport = :$port )" | grep -q LISTEN || break
	done
	printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "%s:%s"}\n' "$tmp/registry" "${a%.*}.1" "$port" >"$tmp/registry.yml"
	docker-registry serve "$tmp/registry.yml" >>"$log" 2>&1 &
	reg_pid=$!
	reg="${a%.*}.1:$port"
	local deadline=$((SECONDS + 60))
	until curl -sf "http://$reg/v2/" >/dev/null; do
		((SECONDS < deadline)) || die "the registry did not answer on $reg in 60 s"
		sleep 0.1
	done
	dk tag "$image" "$reg/$image" && dk push "$reg/$image" >>"$log" 2>&1 || die "push $reg/$image failed"
}

ensure_hosts
start_registry
echo "bench swarm: $services services on ${#specs[@]} nodes (manager $mgr), RUNS=$runs; log: $log" >&2
declare -A t=()
add() { t[$1]="${t[$1]:-} $2"; }
for ((r = 1; r <= runs; r++)); do
	stack 0 >"$tmp/stack.yaml"
	s=$(now); dv "$P_DEV" up -d --wait >>"$log" 2>&1 || die "devorch up failed (see $log)"; add dev_cold "$(since "$s")"
	s=$(now); dk stack deploy --resolve-image never -c "$tmp/stack.yaml" "$P_DOCKER" >>"$log" 2>&1; wait_docker_converged; add dk_cold "$(since "$s")"

	stack "$r" >"$tmp/stack.yaml"
	s=$(now); dv "$P_DEV" up -d --wait >>"$log" 2>&1 || die "devorch up (one changed) failed"; add dev_one "$(since "$s")"
	s=$(now); dk stack deploy --resolve-image never -c "$tmp/stack.yaml" "$P_DOCKER" >>"$log" 2>&1; wait_docker_updated "${P_DOCKER}_s01" "$s"; add dk_one "$(since "$s")"

	s=$(now); dv "$P_DEV" up -d --wait >>"$log" 2>&1 || die "devorch up (nothing changed) failed"; add dev_none "$(since "$s")"
	s=$(now); dk stack deploy --resolve-image never -c "$tmp/stack.yaml" "$P_DOCKER" >>"$log" 2>&1; wait_docker_converged; add dk_none "$(since "$s")"

	s=$(now); dv "$P_DEV" down >>"$log" 2>&1 || die "devorch down failed"; add dev_rm "$(since "$s")"
	s=$(now); dk stack rm "$P_DOCKER" >>"$log" 2>&1; wait_docker_gone; add dk_rm "$(since "$s")"
	echo "run $r: cold ${t[dev_cold]##* } vs ${t[dk_cold]##* } s, one ${t[dev_one]##* } vs ${t[dk_one]##* } s, nothing ${t[dev_none]##* } vs ${t[dk_none]##* } s, remove ${t[dev_rm]##* } vs ${t[dk_rm]##* } s" >&2

	[ -n "$reg" ] || continue
	stack 0 >"$tmp/stack.yaml"
	sed "s|image: $image|image: $reg/$image|" "$tmp/stack.yaml" >"$tmp/stack-reg.yaml"
	s=$(now); dv "$P_DEV" up -d --wait --registry "$reg" >>"$log" 2>&1 || die "devorch up --registry failed (see $log)"; add dev_regcold "$(since "$s")"
	s=$(now); dk stack deploy --resolve-image always -c "$tmp/stack-reg.yaml" "$P_DOCKER" >>"$log" 2>&1; wait_docker_converged; add dk_regcold "$(since "$s")"
	s=$(now); dv "$P_DEV" up -d --wait --registry "$reg" >>"$log" 2>&1 || die "devorch up --registry (nothing changed) failed"; add dev_regnone "$(since "$s")"
	s=$(now); dk stack deploy --resolve-image always -c "$tmp/stack-reg.yaml" "$P_DOCKER" >>"$log" 2>&1; wait_docker_converged; add dk_regnone "$(since "$s")"
	dv "$P_DEV" down >>"$log" 2>&1 || die "devorch down failed"
	dk stack rm "$P_DOCKER" >>"$log" 2>&1; wait_docker_gone
	echo "run $r, registry: cold ${t[dev_regcold]##* } vs ${t[dk_regcold]##* } s, nothing ${t[dev_regnone]##* } vs ${t[dk_regnone]##* } s" >&2
done

printf '\n%-34s %10s %14s %7s  %s\n' "devorch --target swarm vs docker stack" devorch "docker stack" ratio target
row() {
	local d k
	d=$(median "${t[dev_$1]}")
	k=$(median "${t[dk_$1]}")
	local v=""
	[ -z "$4" ] || v="$3 $(verdict "$4")"
	printf '%-34s %9ss %13ss %7s  %s\n' "$2" "$d" "$k" "$(ratio "$d" "$k")" "$v"
}
d_cold=$(median "${t[dev_cold]}") k_cold=$(median "${t[dk_cold]}")
d_one=$(median "${t[dev_one]}") k_one=$(median "${t[dk_one]}")
d_none=$(median "${t[dev_none]}")
row cold "cold deploy, $services services" "<= 0.9x" "$d_cold <= 0.9 * $k_cold"
row one "one service changed" "<= 0.5x" "$d_one <= 0.5 * $k_one"
row none "nothing changed" "< 0.3 s" "$d_none < 0.3"
row rm "remove" "" ""
echo "(docker: stack deploy --resolve-image never, then waiting until every task runs; docker 20.10's stack deploy cannot wait itself)"
if [ -n "$reg" ]; then
	d_regcold=$(median "${t[dev_regcold]}") k_regcold=$(median "${t[dk_regcold]}")
	row regcold "registry: cold deploy" "<= 0.9x" "$d_regcold <= 0.9 * $k_regcold"
	row regnone "registry: nothing changed" "" ""
	echo "(registry: devorch up --registry pushes and names the image by digest; docker: stack deploy --resolve-image always of the pushed tag)"
fi
