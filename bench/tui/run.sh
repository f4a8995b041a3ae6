#!/usr/bin/env bash
# bench/tui/run.sh measures what the TUI costs while it is open, on this
# machine, with the real binary in a tmux terminal (160x48):
#
#  idle     20 running testapp services that log nothing, `devorch tui` open
#           on the services view for IDLE_SECONDS: devorch's own CPU (% of
#           one core, utime+stime from /proc/PID/stat) and the extra CPU of
#           dockerd and of containerd+shims (median of the windows with the
#           TUI minus median of the windows without it, alternated). Once
#           with healthchecks every 5 s, once without.
#  gobench  go test ./tui -bench: View() and Update+View at 100 services.
#  logs     5 services each logging LOG_RATE lines/s (default 1000), the TUI
#           on the logs view (following) for DURATION seconds: devorch's
#           VmRSS every SAMPLE_EVERY seconds and at the end, its CPU, the
#           live heap (GODEBUG=gctrace=1, written to a file), and how far the
#           screen is behind the newest line a container wrote.
#
# Environment: PARTS (default "idle gobench logs"), IDLE_SECONDS (60),
# IDLE_HEALTHCHECKS (default "5s none"), ROUNDS (1: baseline, then ROUNDS x
# {TUI, baseline}), DURATION (300), SAMPLE_EVERY (30), LOG_RATE (1000),
# DOCKERD_PID (default: /var/run/docker.pid), DEVORCH (the binary, default
# bin/devorch, e.g. a patched build to compare), TUI_ENV (VAR=value ... for
# the TUI's process, e.g. COLORTERM=truecolor). Everything it starts (tmux
# server, projects dvbtui-*) is removed on exit, also on failure or ^C.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

parts=${PARTS:-idle gobench logs}
idle_seconds=${IDLE_SECONDS:-60}
idle_hcs=${IDLE_HEALTHCHECKS:-5s none}
rounds=${ROUNDS:-1}
duration=${DURATION:-300}
sample_every=${SAMPLE_EVERY:-30}
log_rate=${LOG_RATE:-1000}
hz=$(getconf CLK_TCK)

die() { echo "bench/tui: $*" >&2; exit 1; }

command -v tmux >/dev/null || die "tmux is not installed (the TUI needs a terminal to run in)"
docker info >/dev/null 2>&1 || die "Docker is not reachable ('docker info' failed)"
bin=${DEVORCH:-$root/bin/devorch}
if [ -z "${DEVORCH:-}" ] && [ ! -x bin/devorch ]; then
	echo "bin/devorch is missing: make build" >&2
	make build >&2
fi
[ -x "$bin" ] || die "$bin is not an executable"
if ! docker image inspect devorch-test/testapp:latest >/dev/null 2>&1; then
	echo "building the test image devorch-test/testapp:latest (go run ./cmd/testimages)" >&2
	go run ./cmd/testimages >&2
fi
dockerd=${DOCKERD_PID:-$(cat /var/run/docker.pid 2>/dev/null || true)}
[ -n "$dockerd" ] && [ "$(cat /proc/"$dockerd"/comm 2>/dev/null)" = dockerd ] ||
	die "cannot find the local dockerd's PID (/var/run/docker.pid); set DOCKERD_PID"
containerd=$(pgrep -P "$dockerd" -x containerd || true)

tmp=$(mktemp -d)
log=$tmp/bench.log
sock=$tmp/tmux.sock
# Not dvb-: bench/run.sh removes every container whose name contains dvb-.
P_IDLE=dvbtui-idle P_LOGS=dvbtui-logs
dev() { "$bin" --progress plain --ansi never "$@"; }
tm() { tmux -u -f /dev/null -S "$sock" "$@"; }

# cleanup removes everything the bench may have created; it runs in a
# subshell so that its set +e stays there.
cleanup() (
	set +e
	[ -z "${events_pid:-}" ] || kill "$events_pid"
	tm kill-server
	for p in $P_IDLE $P_LOGS; do
		[ -f "$tmp/$p.yaml" ] && dev -p $p -f "$tmp/$p.yaml" down -t 1
		ids=$(docker ps -aq --filter label=dev.devorch.project=$p)
		[ -z "$ids" ] || docker rm -f $ids
		ids=$(docker network ls -q --filter label=dev.devorch.project=$p)
		[ -z "$ids" ] || docker network rm $ids
	done
) >>"$log" 2>&1

exec 3>&2
finish() {
	local rc=$?
	cleanup
	if [ $rc != 0 ]; then
		echo "bench/tui: failed or interrupted (exit $rc); last lines of $log:" >&3
		tail -n 30 "$log" >&3
		echo "(kept $tmp)" >&3
	else
		rm -rf "$tmp"
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# ticks PID: utime+stime of a process, in clock ticks. With "all", its
# waited-for children's too (a containerd-shim's runc and execs).
ticks() {
	local s
	s=$(cat /proc/"$1"/stat 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s "${2:-}"
	if [ "${!#}" = all ]; then echo $((${12} + ${13} + ${14} + ${15})); else echo $((${12} + ${13})); fi
}
# dockerside: "dockerd containerd+shims" ticks; shims of the default daemon
# only (namespace moby).
dockerside() {
	local other=0 p
	[ -n "$containerd" ] && other=$(ticks "$containerd")
	for p in $(pgrep -f 'containerd-shim.* -namespace moby ' || true); do
		other=$((other + $(ticks "$p" all)))
	done
	echo "$(ticks "$dockerd") $other"
}
now() { echo "$EPOCHREALTIME"; }
# pct TICKS SECONDS: % of one core.
pct() { awk -v t="$1" -v s="$2" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz / s * 100 }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
avg() { tr ' ' '\n' <<<"$*" | awk NF | awk '{ s += $1 } END { if (NR) printf "%.2f", s / NR }'; }

screen() { tm capture-pane -p -t tui 2>/dev/null || true; }
# wait_screen DESCRIPTION TIMEOUT ERE: poll the TUI's screen for ERE.
wait_screen() {
	local deadline=$((SECONDS + $2))
	until screen | grep -Eq -- "$3"; do
		if [ $SECONDS -ge $deadline ]; then
			screen >>"$log"
			die "waiting for $1: not on screen after $2 s (screen in $log)"
		fi
		sleep 0.3
	done
}
# tui_open PROJECT FILE [ENV...]: `devorch tui` in a detached tmux session,
# exec'd so that the pane's PID is devorch's; stderr goes to $tmp/tui.err.
tui_open() {
	local p=$1 f=$2
	shift 2
	tm new-session -d -s tui -x 160 -y 48 \
		"exec env $* '$bin' -p $p -f '$f' tui 2>'$tmp/tui.err'"
	tui_pid=$(tm display-message -p -t tui '#{pane_pid}')
	# The pane's shell execs env, which execs devorch.
	local deadline=$((SECONDS + 10))
	until [ "$(cat /proc/"$tui_pid"/comm 2>/dev/null)" = devorch ]; do
		[ $SECONDS -lt $deadline ] || die "the pane runs $(cat /proc/"$tui_pid"/comm 2>/dev/null), not devorch"
		sleep 0.1
	done
}
tui_close() {
	tm send-keys -t tui q || true
	local deadline=$((SECONDS + 20))
	while [ -e /proc/"$tui_pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
	[ ! -e /proc/"$tui_pid" ] || die "devorch tui did not quit on q"
	tm kill-server >/dev/null 2>&1 || true
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
report=$tmp/report.txt
say() { echo "$*" | tee -a "$report"; }
say "devorch TUI bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Docker $(docker version -f '{{.Server.Version}}'), load average before: $load"
say "devorch: $bin${TUI_ENV:+ (TUI_ENV: $TUI_ENV)}, built $(date -u -r "$bin" '+%H:%M UTC'); tree at $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' with uncommitted changes')"
say ""
cleanup

# ---------------------------------------------------------------- idle
idle_compose() { # HEALTHCHECK ("none" or an interval)
	echo "services:"
	for i in $(seq -w 1 20); do
		echo "  svc$i:"
		echo "    image: devorch-test/testapp:latest"
		[ "$1" = none ] || echo "    healthcheck: {test: [\"CMD\", \"/testapp\", \"health\"], interval: $1, retries: 3}"
	done
}

# events_watch SECONDS records every Docker event of the next SECONDS (+2)
# in $tmp/events, live: for --since, dockerd keeps only its last 256 events,
# which healthchecks fill in 20 s.
events_watch() {
	local t
	t=$(date +%s)
	docker events --since "$t" --until "$((t + ${1%.*} + 2))" \
		--format '{{.Time}} {{.Action}} {{.Actor.Attributes.name}}' >>"$tmp/events" 2>/dev/null &
	events_pid=$!
}
# foreign FROM TO: how many recorded events of other projects (not
# healthcheck execs) fall in the window: other engineers' tests on the same
# daemon, which make dockerd's figure noise.
foreign() {
	awk -v a="${1%.*}" -v b="${2%.*}" '$1 >= a && $1 <= b && $2 !~ /^exec_/ && $2 !~ /^health_status/ && $3 !~ /^dvbtui-/' \
		"$tmp/events" 2>/dev/null | wc -l
}

# pause SECONDS sleeps in a way a TERM interrupts at once (the trap runs
# when wait returns, not when a foreground sleep ends).
pause() {
	sleep "$1" &
	wait $!
}

# measure SECONDS: sleeps, then sets m_dockerd, m_other (containerd+shims),
# m_devorch (when $tui_pid runs; 0 otherwise), all in % of one core, and
# m_foreign (other projects' events) for the window.
measure() {
	local a b a1 b1 t0 t1 d0=0 d1=0 s
	read -r a b <<<"$(dockerside)"
	[ -n "${tui_pid:-}" ] && d0=$(ticks "$tui_pid")
	t0=$(now)
	events_watch "$1"
	pause "$1"
	t1=$(now)
	if [ -n "${tui_pid:-}" ]; then
		[ -e /proc/"$tui_pid" ] || die "devorch tui exited during the measurement"
		d1=$(ticks "$tui_pid")
	fi
	read -r a1 b1 <<<"$(dockerside)"
	s=$(elapsed "$t0" "$t1")
	m_dockerd=$(pct $((a1 - a)) "$s") m_other=$(pct $((b1 - b)) "$s") m_devorch=$(pct $((d1 - d0)) "$s")
	wait "$events_pid" || true
	m_foreign=$(foreign "$t0" "$t1")
}

median() { tr ' ' '\n' <<<"$*" | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }

# pick "VALUE:FOREIGN ...": the values of the quiet windows (no foreign
# events), or of all windows when none was quiet.
pick() {
	local q=() all=() w
	for w in "$@"; do
		all+=("${w%%:*}")
		[ "${w##*:}" != 0 ] || q+=("${w%%:*}")
	done
	if [ ${#q[@]} -gt 0 ]; then echo "${q[*]}"; else echo "${all[*]}"; fi
}
# shown "VALUE:FOREIGN ...": each window, with its foreign events when any.
shown() {
	local out=() w
	for w in "$@"; do
		if [ "${w##*:}" = 0 ]; then out+=("${w%%:*}"); else out+=("${w%%:*}[${w##*:}]"); fi
	done
	echo "${out[*]}"
}

idle_rows=()
run_idle() { # HEALTHCHECK
	local hc=$1 f=$tmp/$P_IDLE.yaml
	idle_compose "$hc" >"$f"
	echo "idle, healthcheck $hc: up -d --wait (20 services)" >&2
	dev -p $P_IDLE -f "$f" up -d --wait >>"$log" 2>&1 || die "up -d --wait failed"
	sleep 10
	local base_d=() base_o=() tui_d=() tui_o=() devs=() r rss=0 deadline
	tui_pid=
	echo "  baseline ${idle_seconds}s (no TUI)" >&2
	measure "$idle_seconds"
	base_d+=("$m_dockerd:$m_foreign") base_o+=("$m_other:$m_foreign")
	for ((r = 1; r <= rounds; r++)); do
		# shellcheck disable=SC2086
		tui_open $P_IDLE "$f" ${TUI_ENV:-}
		wait_screen "the services view with 20 running" 60 '20/20 running'
		# Every row sampled (no "(k/20 sampled)" in the header), then settle.
		deadline=$((SECONDS + 60))
		while screen | grep -q 'sampled)'; do
			[ $SECONDS -lt $deadline ] || die "the TUI never sampled all 20 containers"
			sleep 0.5
		done
		sleep 5
		echo "  TUI open on the services view ${idle_seconds}s (round $r/$rounds)" >&2
		measure "$idle_seconds"
		tui_d+=("$m_dockerd:$m_foreign") tui_o+=("$m_other:$m_foreign") devs+=("$m_devorch")
		rss=$(rss_kb "$tui_pid")
		screen >"$tmp/idle-$hc-screen.txt"
		tui_close
		tui_pid=
		sleep 3
		echo "  baseline ${idle_seconds}s (no TUI)" >&2
		measure "$idle_seconds"
		base_d+=("$m_dockerd:$m_foreign") base_o+=("$m_other:$m_foreign")
	done
	dev -p $P_IDLE -f "$f" down -t 1 >>"$log" 2>&1 || die "down failed"
	local dv td bd to bo extra oextra
	# shellcheck disable=SC2046
	{
		dv=$(median "${devs[*]}")
		td=$(median $(pick "${tui_d[@]}")) bd=$(median $(pick "${base_d[@]}"))
		to=$(median $(pick "${tui_o[@]}")) bo=$(median $(pick "${base_o[@]}"))
	}
	extra=$(awk -v a="$td" -v b="$bd" 'BEGIN { printf "%+.2f", a - b }')
	oextra=$(awk -v a="$to" -v b="$bo" 'BEGIN { printf "%+.2f", a - b }')
	idle_rows+=("| $hc | $dv (${devs[*]}) | $td ($(shown "${tui_d[@]}")) | $bd ($(shown "${base_d[@]}")) | $extra | $oextra | $(mib "$rss") MiB | devorch $(verdict "$dv < 2") · dockerd $(verdict "$extra < 2") |")
}

if [[ " $parts " == *" idle "* ]]; then
	for hc in $idle_hcs; do run_idle "$hc"; done
	say "## idle: 20 running services (no log output), TUI on the services view, ${idle_seconds}s windows, $rounds round(s)"
	say "CPU in % of one core; medians, each window in parentheses. Windows: baseline without the TUI, then"
	say "$rounds x (TUI open, baseline). [n] = n Docker events of other projects during that window (other"
	say "engineers' tests on the same daemon): such windows are left out of the medians when quiet ones exist."
	say "Extra = median with the TUI minus median without. Targets: devorch < 2 %, dockerd extra < 2 %."
	say ""
	say "| healthcheck | devorch % | dockerd with TUI % | dockerd without % | dockerd extra % | containerd+shims extra % | devorch VmRSS | targets |"
	say "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for r in "${idle_rows[@]}"; do say "$r"; done
	say ""
fi

# ---------------------------------------------------------------- gobench
if [[ " $parts " == *" gobench "* ]]; then
	echo "go test ./tui -run xxx -bench . -benchtime 50x" >&2
	say "## go test ./tui -run xxx -bench . -benchtime 50x (100 services, 5,000-line window, 84 lines + 1 stats event per frame)"
	say ""
	say "| benchmark | ms/op | KB/op | allocs/op |"
	say "| --- | ---: | ---: | ---: |"
	if go test ./tui -run xxx -bench . -benchtime 50x -benchmem >"$tmp/gobench.txt" 2>&1; then
		awk '/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); ns = kb = al = "";
			for (i = 3; i < NF; i++) { if ($(i+1) == "ns/op") ns = $i; if ($(i+1) == "B/op") kb = $i; if ($(i+1) == "allocs/op") al = $i }
			printf "| %s | %.2f | %.0f | %s |\n", name, ns / 1e6, kb / 1024, al }' "$tmp/gobench.txt" | tee -a "$report"
	else
		say "| go test failed: $(tail -n 3 "$tmp/gobench.txt" | tr '\n' ' ') | | | |"
	fi
	say ""
fi

# ---------------------------------------------------------------- logs
# tick SCREEN-OR-TEXT SERVICE: the highest "SERVICE tick N" in the text.
max_tick() { grep -Eo "$1 tick [0-9]+" | awk '{ if ($3 > m) m = $3 } END { print m + 0 }'; }
container_tick() { docker logs --tail 1 "$P_LOGS-$1-1" 2>&1 | max_tick "$1"; }
heap_mb() { grep -Eo '[0-9]+->[0-9]+->[0-9]+ MB' "$tmp/tui.err" 2>/dev/null | tail -n 1 | sed -E 's/.*->([0-9]+) MB/\1/'; }

if [[ " $parts " == *" logs "* ]]; then
	f=$tmp/$P_LOGS.yaml
	{
		echo "services:"
		for i in 1 2 3 4 5; do
			echo "  log$i:"
			echo "    image: devorch-test/testapp:latest"
			echo "    environment: {LOG_RATE: \"$log_rate\", LOG_LINE: \"log$i\"}"
		done
	} >"$f"
	echo "logs: 5 services x $log_rate lines/s, up -d --wait" >&2
	dev -p $P_LOGS -f "$f" up -d --wait >>"$log" 2>&1 || die "up -d --wait failed"
	sleep 5
	base=$((duration / 5 < 60 ? duration / 5 : 60))
	echo "  baseline ${base}s (no TUI)" >&2
	tui_pid=
	measure "$base"
	base_d=$m_dockerd base_o=$m_other base_n=$m_foreign
	# shellcheck disable=SC2086
	tui_open $P_LOGS "$f" GODEBUG=gctrace=1 ${TUI_ENV:-}
	wait_screen "the services view with 5 running" 60 '5/5 running'
	tm send-keys -t tui 2
	wait_screen "the logs view, following" 30 'Logs · all services · following'
	echo "  TUI on the logs view ${duration}s, a sample every ${sample_every}s" >&2
	rows=()
	events_watch "$duration"
	t0=$(now) c0=$(ticks "$tui_pid")
	read -r dk0 ok0 <<<"$(dockerside)"
	tick0=$(container_tick log1)
	prev_t=$t0 prev_c=$c0 prev_dk=$dk0
	rss_max=0 i=0
	while :; do
		i=$((i + 1))
		[ $((i * sample_every)) -le "$duration" ] || break
		target=$(awk -v a="$t0" -v n=$((i * sample_every)) 'BEGIN { printf "%.3f", a + n }')
		left=$(awk -v a="$target" -v b="$(now)" 'BEGIN { d = a - b; if (d > 0) printf "%.3f", d; else print 0 }')
		pause "$left"
		[ -e /proc/"$tui_pid" ] || die "devorch tui exited (stderr: $(tail -n 3 "$tmp/tui.err"))"
		t=$(now) c=$(ticks "$tui_pid") rss=$(rss_kb "$tui_pid")
		read -r dk _ <<<"$(dockerside)"
		sc=$(screen)
		shown=$(max_tick log1 <<<"$sc") wrote=$(container_tick log1)
		following=$(grep -Eo 'Logs · [^·]+ · [a-z]+ · [0-9,]+ lines' <<<"$sc" | head -n 1)
		[ "$rss" -gt "$rss_max" ] && rss_max=$rss
		heap=$(heap_mb)
		rows+=("$(printf '| %4.0f | %6s | %5s | %5s | %5s | %4s | %5s | %s |' "$(elapsed "$t0" "$t")" "$(mib "$rss")" "${heap:-?}" \
			"$(pct $((c - prev_c)) "$(elapsed "$prev_t" "$t")")" "$(pct $((dk - prev_dk)) "$(elapsed "$prev_t" "$t")")" "$(foreign "$prev_t" "$t")" \
			"$(awk -v a="$wrote" -v b="$shown" -v r="$log_rate" 'BEGIN { printf "%.2f", (a - b) / r }')" "$following")")
		prev_t=$t prev_c=$c prev_dk=$dk
		echo "  ${rows[-1]}" >&2
	done
	t1=$(now) c1=$(ticks "$tui_pid") tick1=$(container_tick log1)
	read -r dk1 ok1 <<<"$(dockerside)"
	hwm=$(hwm_kb "$tui_pid") rss_end=$(rss_kb "$tui_pid")
	secs=$(elapsed "$t0" "$t1")
	screen >"$tmp/logs-screen.txt"
	tui_close
	gcs=$(grep -c '^gc ' "$tmp/tui.err" || true)
	dev -p $P_LOGS -f "$f" down -t 1 >>"$log" 2>&1 || die "down failed"
	rate=$(awk -v a="$tick0" -v b="$tick1" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / s }')
	say "## logs: 5 services x LOG_RATE=$log_rate, TUI on the logs view (following) for ${secs%.*}s"
	say "log1 actually wrote $rate lines/s (x5 = $((rate * 5)) lines/s; the testapp ticker drops ticks when the CPU is short)."
	say "lag = how many seconds of log1's output the screen is behind the newest line docker logs has."
	say ""
	say "| t s | VmRSS MiB | live heap MB | devorch % | dockerd % | other events | lag s | logs header |"
	say "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for r in "${rows[@]}"; do say "$r"; done
	say ""
	say "end: VmRSS $(mib "$rss_end") MiB, VmHWM $(mib "$hwm") MiB (max sampled VmRSS $(mib "$rss_max") MiB); devorch CPU $(pct $((c1 - c0)) "$secs")% of one core over ${secs%.*}s;"
	say "dockerd $(pct $((dk1 - dk0)) "$secs")% with the TUI following vs $base_d% in ${base}s without it ($base_n events of other projects; containerd+shims $(pct $((ok1 - ok0)) "$secs")% vs $base_o%); $gcs GC cycles."
	say ""
fi

mkdir -p bench/results
out=bench/results/tui-$(date -u +%Y%m%d-%H%M%S).txt
cp "$report" "$out"
echo "(written to $out)" >&2
