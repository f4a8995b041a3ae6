#!/usr/bin/env bash
# testhosts.sh — start/stop N extra, real, separate local Docker hosts for
# devorch multi-host integration tests. See scripts/testhosts.md.
#
#   scripts/testhosts.sh up [N]          start h1..hN (default 3); idempotent, repairs crashed hosts
#   scripts/testhosts.sh swarm I [J...]  join running hosts hI, hJ... into one Docker Swarm, hI its manager; idempotent
#   scripts/testhosts.sh down [--purge]  stop all hosts (leaving their Swarm first); --purge also deletes their data roots
#   scripts/testhosts.sh status          show the hosts
#   scripts/testhosts.sh env [--raw]     print DEVORCH_TEST_HOSTS (and DEVORCH_TEST_SWARM, DEVORCH_TEST_TLS/_SSH) for the running hosts
#   scripts/testhosts.sh load IMAGE...   copy images from the default daemon into every running host
#   scripts/testhosts.sh restart I       restart hI's dockerd alone (the other hosts and Swarms untouched)
#
# Host hN: network namespace devorch-hN, veth dvh-hN (10.251.N.1/24) <-> eth0
# (10.251.N.2/24), dockerd on unix:///run/devorch-testhosts/hN.sock, data root
# /var/lib/devorch-testhosts/hN. Nothing listens on TCP outside the namespaces.
# Two hosts have a second endpoint, inside their namespace: h3's dockerd also
# listens on tcp://10.251.3.2:2376 with --tlsverify (certificates in
# /var/lib/devorch-testhosts/tls), and an sshd in h2's namespace listens on
# 10.251.2.2:22 (keys and client config in /var/lib/devorch-testhosts/ssh)
# whose sessions have DOCKER_HOST=h2's socket.
# `swarm I J...` records its hosts in /run/devorch-testhosts/swarm; `env` lists
# them in DEVORCH_TEST_SWARM (manager first) instead of DEVORCH_TEST_HOSTS, and
# `up` makes every other host that is in a Swarm leave it.
set -Eeuo pipefail

readonly TAG=devorch-testhosts
readonly RUN_DIR=/run/devorch-testhosts
readonly DATA_DIR=/var/lib/devorch-testhosts
readonly LOG_DIR=/var/log/devorch-testhosts
readonly LOCK_FILE=/run/lock/devorch-testhosts.lock
readonly SRC_HOST=${DEVORCH_TESTHOST_SOURCE:-unix:///var/run/docker.sock}
readonly MAX_HOSTS=99
readonly START_TIMEOUT=${DEVORCH_TESTHOST_START_TIMEOUT:-60}
readonly STOP_TIMEOUT=20
# Empty: every dockerd starts (supervises) its own containerd inside its exec root.
# A socket path: use that containerd (namespaces devorch-hN keep the hosts apart).
readonly SHARED_CONTAINERD=${DEVORCH_TESTHOST_CONTAINERD:-}
# Extra endpoint kinds (fixed hosts, see testhosts.md): a TLS tcp listener on
# h3's dockerd, an sshd in h2's namespace. Keys and certificates are made once
# and kept with the data roots (removed by down --purge).
readonly TLS_HOST=3 TLS_PORT=2376
readonly TLS_DIR=$DATA_DIR/tls
readonly SSH_HOST=2
readonly SSH_DIR=$DATA_DIR/ssh
readonly SSHD=/usr/sbin/sshd
# The one Swarm `swarm I J...` made: its hosts, manager first ("5 6"). It is
# runtime state (down removes it); the Swarm state itself is in the data roots.
readonly SWARM_FILE=$RUN_DIR/swarm
readonly SWARM_PORT=2377 GOSSIP_PORT=7946
readonly SWARM_READY_TIMEOUT=30
readonly LEAVE_TIMEOUT=15

# The docker CLI must not be redirected by the caller's environment.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}

log() { printf 'testhosts: %s\n' "$*" >&2; }
die() { log "error: $1"; exit "${2:-1}"; }

usage() {
	cat >&2 <<'EOF'
usage: testhosts.sh up [N]          start hosts h1..hN (default 3)
       testhosts.sh swarm I [J...]  join running hosts hI, hJ... into one Swarm (hI manager, the
                                    others workers); idempotent, repairs; recorded for env/up/down
       testhosts.sh down [--purge]  stop all hosts, each leaving its Swarm first
                                    (--purge: also delete data roots)
       testhosts.sh status          show hosts
       testhosts.sh env [--raw]     print DEVORCH_TEST_HOSTS, DEVORCH_TEST_SWARM, DEVORCH_TEST_TLS,
                                    DEVORCH_TEST_SSH (eval-safe; --raw: only DEVORCH_TEST_HOSTS, unquoted)
       testhosts.sh load IMAGE...   copy images from the default daemon into all running hosts
       testhosts.sh restart I       restart hI's dockerd alone (the other hosts and Swarms untouched)
EOF
	exit 2
}

# ---------------------------------------------------------------- per host
ns_of() { echo "devorch-h$1"; }
veth_of() { echo "dvh-h$1"; }
sock_of() { echo "$RUN_DIR/h$1.sock"; }
endpoint_of() { echo "unix://$RUN_DIR/h$1.sock"; }
pidfile_of() { echo "$RUN_DIR/h$1.pid"; }
exec_of() { echo "$RUN_DIR/h$1-exec"; }
data_of() { echo "$DATA_DIR/h$1"; }
log_of() { echo "$LOG_DIR/h$1.log"; }
cfg_of() { echo "$RUN_DIR/h$1.json"; }
addr_of() { echo "10.251.$1.2"; }
gw_of() { echo "10.251.$1.1"; }
bip_of() { echo "10.252.$1.1/24"; }               # docker0 inside hN
pool_of() { echo "10.$((100 + $1)).0.0/16"; }       # user-defined networks inside hN
sshd_pidfile_of() { echo "$RUN_DIR/h$1-sshd.pid"; }
sshd_cfg_of() { echo "$RUN_DIR/h$1-sshd.conf"; }
sshd_log_of() { echo "$LOG_DIR/h$1-sshd.log"; }
tls_endpoint() { echo "tcp://$(addr_of "$TLS_HOST"):$TLS_PORT"; }
ssh_endpoint() { echo "ssh://root@$(addr_of "$SSH_HOST")"; }

dk() { local i=$1; shift; timeout 30 docker -H "$(endpoint_of "$i")" "$@"; }
src() { docker -H "$SRC_HOST" "$@"; }

alive() { # pid -> running (not a zombie)
	local s
	[[ -n ${1:-} ]] && s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]
}

# All processes belonging to host i: dockerd (--exec-root), its containerd
# (--config <exec>/containerd/...), shims (-address <exec>/containerd/...).
host_pids() {
	local i=$1 p cmd re
	re="(^| |=)$(exec_of "$i")( |/|$)"
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd =~ $re ]] && echo "${p#/proc/}"
	done
	return 0
}

dockerd_pid() { # pid of host i's dockerd, verified, or nothing
	local i=$1 p cmd
	local fromfile=""
	[[ -r $(pidfile_of "$i") ]] && fromfile=$(<"$(pidfile_of "$i")")
	for p in $fromfile $(host_pids "$i"); do
		[[ $p =~ ^[0-9]+$ ]] || continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
		if [[ $cmd == *dockerd* && $cmd == *"$(sock_of "$i")"* ]] && alive "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 0
}

sshd_pid() { # pid of host i's sshd listener (from its pidfile, verified), or nothing
	local i=$1 p cmd
	[[ -r $(sshd_pidfile_of "$i") ]] || return 0
	p=$(<"$(sshd_pidfile_of "$i")")
	[[ $p =~ ^[0-9]+$ ]] || return 0
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || return 0
	if [[ $cmd == *sshd* && $cmd == *"$(sshd_cfg_of "$i")"* ]] && alive "$p"; then echo "$p"; fi
	return 0
}

known_hosts() { # indices of hosts with any runtime trace (not data roots)
	{
		# (|| true: with pipefail a missing directory must not end the scan)
		ls "$RUN_DIR" 2>/dev/null | sed -nE 's/^h([0-9]+)(\.pid|\.sock|\.json|-exec|-sshd\.pid|-sshd\.conf)$/\1/p' || true
		ip netns list 2>/dev/null | sed -nE 's/^devorch-h([0-9]+)( .*)?$/\1/p' || true
		ip -o link show 2>/dev/null | sed -nE 's/^[0-9]+: dvh-h([0-9]+)[@:].*/\1/p' || true
		ls /sys/fs/cgroup/pids 2>/dev/null | sed -nE 's/^devorch-h([0-9]+)$/\1/p' || true
		local p cmd
		for p in /proc/[0-9]*; do
			cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
			[[ $cmd =~ $RUN_DIR/h([0-9]+)-exec ]] && echo "${BASH_REMATCH[1]}"
		done
	} | sort -nu
}

data_hosts() { { ls "$DATA_DIR" 2>/dev/null || true; } | sed -nE 's/^h([0-9]+)$/\1/p' | sort -n; }

healthy() { # host i fully up?
	local i=$1 pid
	pid=$(dockerd_pid "$i")
	[[ -n $pid ]] || return 1
	[[ -e /var/run/netns/$(ns_of "$i") ]] || return 1
	[[ $(readlink "/proc/$pid/ns/net") == "$(readlink /proc/self/ns/net)" ]] && return 1
	ip -4 -o addr show dev "$(veth_of "$i")" 2>/dev/null | grep -q " $(gw_of "$i")/24 " || return 1
	ip -n "$(ns_of "$i")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $(addr_of "$i")/24 " || return 1
	if ((i == TLS_HOST)); then # started without the TLS listener (older script): restart it
		[[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == *" $(tls_endpoint) "* ]] || return 1
	fi
	timeout 10 docker -H "$(endpoint_of "$i")" info --format '{{.ID}}' >/dev/null 2>&1
}

running_hosts() { local i; for i in $(known_hosts); do healthy "$i" && echo "$i"; done; return 0; }

# ---------------------------------------------------------------- machine-wide
fw_rules() { # the filter rules this script owns, as "-A CHAIN ..." lines
	local c
	for c in FORWARD INPUT OUTPUT; do
		iptables -w -S "$c" 2>/dev/null | grep -E -- "--comment \"?$TAG\"?( |$)" || true
	done
}

ensure_machine() {
	mkdir -p "$RUN_DIR" "$DATA_DIR" "$LOG_DIR"
	chmod 0711 "$RUN_DIR"; chmod 0700 "$DATA_DIR"
	sysctl -qw net.ipv4.ip_forward=1
	# FORWARD policy is DROP once the default dockerd ran: allow hN <-> hM.
	local fwd=(FORWARD -i dvh-+ -o dvh-+ -m comment --comment "$TAG" -j ACCEPT)
	iptables -w -C "${fwd[@]}" 2>/dev/null || iptables -w -I "${fwd[@]}"
	# Normally the default dockerd has set FORWARD policy DROP, so nothing from
	# outside can be routed to 10.251.x. If the policy is ACCEPT, drop new
	# connections into the hosts that do not come from another host.
	if ! iptables -w -S FORWARD 2>/dev/null | grep -qx -- '-P FORWARD DROP'; then
		local guard=(FORWARD ! -i dvh-+ -o dvh-+ -m conntrack --ctstate NEW -m comment --comment "$TAG" -j DROP)
		iptables -w -C "${guard[@]}" 2>/dev/null || iptables -w -I "${guard[@]}"
		iptables -w -D "${fwd[@]}" && iptables -w -I "${fwd[@]}" # keep the ACCEPT first
	fi
	# Machine <-> hN only needs rules when INPUT/OUTPUT do not accept by default.
	if ! iptables -w -S INPUT 2>/dev/null | grep -qx -- '-P INPUT ACCEPT'; then
		iptables -w -C INPUT -i dvh-+ -m comment --comment "$TAG" -j ACCEPT 2>/dev/null ||
			iptables -w -I INPUT -i dvh-+ -m comment --comment "$TAG" -j ACCEPT
	fi
	if ! iptables -w -S OUTPUT 2>/dev/null | grep -qx -- '-P OUTPUT ACCEPT'; then
		iptables -w -C OUTPUT -o dvh-+ -m comment --comment "$TAG" -j ACCEPT 2>/dev/null ||
			iptables -w -I OUTPUT -o dvh-+ -m comment --comment "$TAG" -j ACCEPT
	fi
}

remove_fw_rules() {
	local line
	while read -r line; do
		[[ -n $line ]] || continue
		# shellcheck disable=SC2086 # iptables -S output is word-split on purpose
		iptables -w ${line/#-A /-D } || true
	done < <(fw_rules)
}

unmount_under() { # unmount everything mounted at or below $1, deepest first
	local dir=$1 m
	[[ -n $dir && $dir != / ]] || return 0
	while read -r m; do
		[[ -n $m ]] || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
	done < <(findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1' | sort -r)
}

# ---------------------------------------------------------------- storage driver
probe_driver() { # first storage driver that works for a data root below $DATA_DIR
	local t="$DATA_DIR/.probe.$$"
	rm -rf "$t"; mkdir -p "$t"/{l,u,w,m}
	if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
		umount "$t/m"; rm -rf "$t"; echo overlay2; return
	fi
	if command -v fuse-overlayfs >/dev/null && [[ -c /dev/fuse ]] &&
		fuse-overlayfs -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
		fusermount -u "$t/m" 2>/dev/null || umount "$t/m"; rm -rf "$t"; echo fuse-overlayfs; return
	fi
	rm -rf "$t"; echo vfs
}

driver_of() { # storage driver for host i: override > what the data root already uses > probe
	local i=$1 f="$DATA_DIR/h$1.driver" d
	if [[ -n ${DEVORCH_TESTHOST_STORAGE_DRIVER:-} ]]; then echo "$DEVORCH_TESTHOST_STORAGE_DRIVER"; return; fi
	if [[ -s $f ]]; then cat "$f"; return; fi
	for d in overlay2 fuse-overlayfs vfs; do
		if [[ -d $(data_of "$i")/$d ]]; then echo "$d" >"$f"; echo "$d"; return; fi
	done
	d=$(probe_driver); echo "$d" >"$f"; echo "$d"
}

# ---------------------------------------------------------------- TLS and ssh endpoints
tls_valid() { # the certificates in $TLS_DIR are complete, match, and are good for a day more
	local d=$TLS_DIR f
	for f in ca.pem server/ca.pem server/cert.pem server/key.pem client/ca.pem client/cert.pem client/key.pem; do
		[[ -s $d/$f ]] || return 1
	done
	openssl verify -CAfile "$d/ca.pem" "$d/server/cert.pem" "$d/client/cert.pem" >/dev/null 2>&1 || return 1
	openssl x509 -in "$d/server/cert.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
	openssl x509 -in "$d/client/cert.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
	openssl x509 -in "$d/server/cert.pem" -noout -ext subjectAltName 2>/dev/null |
		grep -qE "IP Address:$(addr_of "$TLS_HOST")(,|$)"
}

# ensure_tls makes, once, a CA, a server certificate for h$TLS_HOST's address
# and a client certificate, in DOCKER_CERT_PATH layout (ca.pem, cert.pem,
# key.pem) under $TLS_DIR/server and $TLS_DIR/client. The CA key is thrown
# away. Built in a temporary directory and moved into place.
ensure_tls() {
	tls_valid && return 0
	command -v openssl >/dev/null || die "openssl is needed for h$TLS_HOST's TLS endpoint" 2
	log "generating TLS certificates in $TLS_DIR"
	mkdir -p "$DATA_DIR"
	local t
	t=$(mktemp -d "$DATA_DIR/.tls.XXXXXX")
	if ! (
		set -e
		cd "$t"
		mkdir server client
		key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
		key ca-key.pem
		openssl req -new -x509 -sha256 -days 3650 -key ca-key.pem -subj "/CN=devorch-testhosts CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-out ca.pem 2>/dev/null
		printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" "subjectAltName=IP:$(addr_of "$TLS_HOST")" >server.ext
		printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=clientAuth" >client.ext
		for who in server client; do
			key "$who/key.pem"
			openssl req -new -key "$who/key.pem" -subj "/CN=devorch-testhosts $who" -out "$who.csr" 2>/dev/null
			openssl x509 -req -sha256 -days 3650 -in "$who.csr" -CA ca.pem -CAkey ca-key.pem \
				-set_serial "0x$(openssl rand -hex 12)" -extfile "$who.ext" -out "$who/cert.pem" 2>/dev/null
			cp ca.pem "$who/ca.pem"
			chmod 0600 "$who/key.pem"
		done
		rm -f ca-key.pem ./*.csr ./*.ext
	); then
		rm -rf "$t"
		die "generating TLS certificates failed"
	fi
	chmod 0755 "$t"
	rm -rf "$TLS_DIR"
	mv "$t" "$TLS_DIR"
	tls_valid || die "the generated certificates in $TLS_DIR do not verify"
}

tls_answers() { # h$TLS_HOST answers on its TLS endpoint with the client certificate
	timeout 10 docker -H "$(tls_endpoint)" --tlsverify --tlscacert "$TLS_DIR/client/ca.pem" \
		--tlscert "$TLS_DIR/client/cert.pem" --tlskey "$TLS_DIR/client/key.pem" \
		version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# ensure_ssh_keys makes, once, sshd's host key and the client key, and writes
# (every time, it is cheap) authorized_keys, known_hosts and a client config
# for `ssh -F`.
ensure_ssh_keys() {
	local k
	mkdir -p "$SSH_DIR"
	chmod 0700 "$SSH_DIR"
	for k in ssh_host_ed25519_key id_ed25519; do
		[[ -s $SSH_DIR/$k && -s $SSH_DIR/$k.pub ]] && continue
		rm -f "$SSH_DIR/.$k" "$SSH_DIR/.$k.pub"
		ssh-keygen -q -t ed25519 -N '' -C "devorch-testhosts $k" -f "$SSH_DIR/.$k" >/dev/null ||
			die "ssh-keygen failed"
		mv -f "$SSH_DIR/.$k.pub" "$SSH_DIR/$k.pub"
		mv -f "$SSH_DIR/.$k" "$SSH_DIR/$k"
	done
	# restrict: no forwarding, no pty; the key only runs commands.
	printf 'restrict %s\n' "$(<"$SSH_DIR/id_ed25519.pub")" >"$SSH_DIR/authorized_keys"
	printf '%s %s\n' "$(addr_of "$SSH_HOST")" "$(cut -d' ' -f1,2 "$SSH_DIR/ssh_host_ed25519_key.pub")" >"$SSH_DIR/known_hosts"
	cat >"$SSH_DIR/ssh_config" <<EOF
# Client config for h$SSH_HOST's sshd (scripts/testhosts.sh):
#   ssh -F $SSH_DIR/ssh_config root@$(addr_of "$SSH_HOST") docker ps
#   DEVORCH_SSH_ARGS="-F $SSH_DIR/ssh_config" devorch --host remote=$(ssh_endpoint) hosts
Host *
	User root
	IdentityFile $SSH_DIR/id_ed25519
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile $SSH_DIR/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	BatchMode yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	ConnectTimeout 5
	LogLevel ERROR
EOF
	chmod 0600 "$SSH_DIR/authorized_keys" "$SSH_DIR/known_hosts" "$SSH_DIR/ssh_config"
}

# start_sshd runs sshd for host i inside its network namespace, listening on
# its address only, root by key only; sessions get DOCKER_HOST = the host's
# socket, so `ssh ... docker system dial-stdio` reaches that dockerd.
start_sshd() {
	local i=$1 cfg p
	cfg=$(sshd_cfg_of "$i")
	ensure_ssh_keys
	mkdir -p /run/sshd # sshd's privilege separation directory (compiled in)
	chmod 0755 /run/sshd
	cat >"$cfg" <<EOF
# sshd for devorch test host h$i (scripts/testhosts.sh); runs in netns $(ns_of "$i")
ListenAddress $(addr_of "$i"):22
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $(sshd_pidfile_of "$i")
AuthorizedKeysFile $SSH_DIR/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
PermitUserEnvironment no
SetEnv DOCKER_HOST=$(endpoint_of "$i")
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
PermitTTY no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
LogLevel INFO
EOF
	"$SSHD" -t -f "$cfg" || die "h$i: sshd rejects $cfg"
	printf '\n=== %s testhosts.sh: starting sshd for h%s\n' "$(date -Is)" "$i" >>"$(sshd_log_of "$i")"
	# sshd daemonizes, binds, then writes its pidfile.
	setsid nsenter --net="/var/run/netns/$(ns_of "$i")" -- "$SSHD" -f "$cfg" -E "$(sshd_log_of "$i")" \
		</dev/null >>"$(sshd_log_of "$i")" 2>&1 9>&- ||
		{ tail -n 5 "$(sshd_log_of "$i")" >&2; die "h$i: sshd failed to start"; }
	local deadline=$((SECONDS + 10))
	while p=$(sshd_pid "$i") && [[ -z $p ]]; do
		if ((SECONDS >= deadline)); then
			tail -n 5 "$(sshd_log_of "$i")" >&2
			die "h$i: sshd wrote no pidfile within 10s"
		fi
		sleep 0.1
	done
	log "h$i: sshd (pid $p) on $(ssh_endpoint)"
}

ensure_sshd() { # sshd for host i, if sshd is installed
	local i=$1
	if [[ ! -x $SSHD ]]; then
		log "h$i: no ssh endpoint: $SSHD is missing (apt-get install openssh-server)"
		return 0
	fi
	[[ -n $(sshd_pid "$i") ]] || start_sshd "$i"
}

stop_sshd() { # (its sessions live in the netns: cleanup_host kills them with the rest)
	local i=$1 pid
	pid=$(sshd_pid "$i")
	if [[ -n $pid ]]; then
		kill_wait TERM 5 "$pid" || kill_wait KILL 5 "$pid" || true
	fi
	rm -f "$(sshd_pidfile_of "$i")" "$(sshd_cfg_of "$i")"
}

# ---------------------------------------------------------------- stop / cleanup
kill_wait() { # signal pids, wait up to $2 seconds for them to go away
	local sig=$1 secs=$2; shift 2
	local p left deadline=$((SECONDS + secs))
	(($#)) || return 0
	kill "-$sig" "$@" 2>/dev/null || true
	while ((SECONDS < deadline)); do
		left=0
		for p in "$@"; do alive "$p" && left=1; done
		((left)) || return 0
		sleep 0.2
	done
	return 1
}

cgroup_dirs() { # cgroup dirs of host i's containers (--cgroup-parent /devorch-hN), deepest first
	find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "devorch-h$1" 2>/dev/null | while read -r d; do
		find "$d" -depth -type d
	done
}

cleanup_host() { # stop host i and remove all its runtime state (never the data root)
	local i=$1 pid pids d ns veth
	ns=$(ns_of "$i"); veth=$(veth_of "$i")
	stop_sshd "$i"
	pid=$(dockerd_pid "$i")
	if [[ -n $pid ]]; then
		log "h$i: stopping dockerd (pid $pid)"
		if ! kill_wait TERM "$STOP_TIMEOUT" "$pid"; then
			log "h$i: dockerd did not stop within ${STOP_TIMEOUT}s, killing it"
			kill_wait KILL 5 "$pid" || true
		fi
	fi
	# containerd and shims left behind (dockerd killed/crashed, or shared with nothing)
	pids=$(host_pids "$i" | tr '\n' ' ') || true
	if [[ -n ${pids// /} ]]; then
		# shellcheck disable=SC2086
		kill_wait TERM 5 $pids || kill_wait KILL 5 $pids || true
	fi
	# container processes (they live in cgroup /devorch-hN, in their own netns)
	local cg procs
	for cg in $(cgroup_dirs "$i"); do
		procs=$(cat "$cg/cgroup.procs" 2>/dev/null | tr '\n' ' ') || true
		# shellcheck disable=SC2086
		[[ -z ${procs// /} ]] || kill_wait KILL 5 $procs || true
	done
	for cg in $(cgroup_dirs "$i"); do rmdir "$cg" 2>/dev/null || true; done
	# anything else still inside the namespace (docker-proxy, ...)
	if [[ -e /var/run/netns/$ns ]]; then
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ') || true
		if [[ -n ${pids// /} ]]; then
			# shellcheck disable=SC2086
			kill_wait TERM 5 $pids || kill_wait KILL 5 $pids || true
		fi
		ip netns delete "$ns" 2>/dev/null || true
	fi
	rm -f "/var/run/netns/$ns" 2>/dev/null || true
	ip link delete "$veth" 2>/dev/null || true
	unmount_under "$(exec_of "$i")"
	unmount_under "$(data_of "$i")" # stale overlay/shm mounts after a crash; data stays
	rm -rf --one-file-system "$(exec_of "$i")"
	rm -f "$(sock_of "$i")" "$(pidfile_of "$i")" "$(cfg_of "$i")"
}

cleanup_hosts() { # cleanup_host for several hosts in parallel (dockerd shutdowns overlap)
	local i pids=() rc=0
	for i in "$@"; do cleanup_host "$i" & pids+=($!); done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	return $rc
}

# ---------------------------------------------------------------- start
start_host() { # set up network + launch dockerd for host i (does not wait)
	local i=$1 ns veth driver
	ns=$(ns_of "$i"); veth=$(veth_of "$i")
	ip netns add "$ns"
	ip link add "$veth" type veth peer name eth0 netns "$ns"
	ip addr add "$(gw_of "$i")/24" dev "$veth"
	ip link set "$veth" up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$(addr_of "$i")/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$(gw_of "$i")"

	driver=$(driver_of "$i")
	mkdir -p "$(exec_of "$i")" "$(data_of "$i")"
	# Own config file: /etc/docker/daemon.json belongs to the default daemon.
	# Registries the tests start on this machine's side of the links
	# (10.251.N.1) speak plain HTTP: the hosts' daemons accept them.
	printf '{"log-driver":"json-file","log-opts":{"max-size":"10m","max-file":"2"},"insecure-registries":["10.251.0.0/16"]}\n' >"$(cfg_of "$i")"
	local args=(
		--config-file "$(cfg_of "$i")"
		--host "$(endpoint_of "$i")"
		--data-root "$(data_of "$i")"
		--exec-root "$(exec_of "$i")"
		--pidfile "$(pidfile_of "$i")"
		--containerd-namespace "devorch-h$i"
		--containerd-plugins-namespace "devorch-h$i-plugins"
		--storage-driver "$driver"
		--bip "$(bip_of "$i")"
		--default-address-pool "base=$(pool_of "$i"),size=24"
		--iptables=true --ip-forward=true
		--cgroup-parent "/devorch-h$i"
		--shutdown-timeout 10
	)
	[[ -z $SHARED_CONTAINERD ]] || args+=(--containerd "$SHARED_CONTAINERD")
	if ((i == TLS_HOST)); then # the certificates: cmd_up runs ensure_tls first
		args+=(
			--host "$(tls_endpoint)"
			--tlsverify
			--tlscacert "$TLS_DIR/server/ca.pem"
			--tlscert "$TLS_DIR/server/cert.pem"
			--tlskey "$TLS_DIR/server/key.pem"
		)
	fi
	printf '\n=== %s testhosts.sh: starting h%s (driver %s)\n' "$(date -Is)" "$i" "$driver" >>"$(log_of "$i")"
	# nsenter only switches the network namespace; `ip netns exec` would also
	# remount /sys and dockerd would lose the cgroup v1 mounts.
	# 9>&-: the lock fd must not leak into dockerd/containerd (they outlive us).
	setsid nsenter --net="/var/run/netns/$ns" -- dockerd "${args[@]}" \
		</dev/null >>"$(log_of "$i")" 2>&1 9>&- &
	echo $!
}

# ---------------------------------------------------------------- Swarm
# `swarm I J...` joins running hosts into one Swarm the way a user would:
# swarm init on hI, swarm join as workers on the others, each advertising and
# listening on its own address (10.251.N.2:2377), no node or Swarm labels
# (devorch's own `hosts join` adds those). Its hosts are recorded in
# $SWARM_FILE, manager first; `env` lists them in DEVORCH_TEST_SWARM.
swarm_addr_of() { echo "$(addr_of "$1"):$SWARM_PORT"; }

in_list() { [[ " ${2//$'\n'/ } " == *" $1 "* ]]; } # in_list WORD "LIST": WORD is one of LIST's words (space or newline separated)

swarm_record() { # the recorded Swarm's host numbers, manager first ("5 6"), or nothing
	local r=""
	[[ -r $SWARM_FILE ]] && r=$(<"$SWARM_FILE")
	[[ $r =~ ^[0-9]+( [0-9]+)*$ ]] && echo "$r"
	return 0
}

swarm_state() { # host i's LocalNodeState (inactive, pending, active, error, locked); nothing if it does not answer
	[[ -n $(dockerd_pid "$1") ]] || return 0
	timeout 5 docker -H "$(endpoint_of "$1")" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true
}

swarm_role() { # "STATE CONTROL" (LocalNodeState, ControlAvailable) -> inactive, manager, worker (or pending, error, locked)
	case $1 in
	"active true") echo manager ;;
	"active false") echo worker ;;
	*) echo "${1%% *}" ;;
	esac
}

leave_swarm() { # host i leaves any Swarm it is in, bounded by LEAVE_TIMEOUT; 1 if it could not
	local i=$1 s
	s=$(swarm_state "$i")
	[[ -n $s && $s != inactive ]] || return 0
	log "h$i: leaving its Swarm (state $s)"
	if ! timeout "$LEAVE_TIMEOUT" docker -H "$(endpoint_of "$i")" swarm leave --force >/dev/null 2>&1; then
		log "h$i: swarm leave --force failed or took over ${LEAVE_TIMEOUT}s"
		return 1
	fi
	# The bridge the Swarm made for its containers' outside traffic stays
	# after leave; a host that was never in a Swarm has none.
	timeout 10 docker -H "$(endpoint_of "$i")" network rm docker_gwbridge >/dev/null 2>&1 || true
}

leave_swarms() { # leave_swarm for several hosts in parallel; 1 if any could not
	local i pids=() rc=0
	for i in "$@"; do leave_swarm "$i" & pids+=($!); done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	return $rc
}

gossip_port_bound() { # something in host i's namespace listens on the Swarm gossip port (7946/tcp)
	[[ -n $(nsenter --net="/var/run/netns/$(ns_of "$1")" ss -Hltn "sport = :$GOSSIP_PORT" 2>/dev/null) ]]
}

gossip_ok() { # host i's dockerd did not fail to start Swarm gossip the last time it tried
	local last
	last=$(tac "$(log_of "$1")" 2>/dev/null | grep -m1 -E 'New memberlist node|error in agentInit' || true)
	[[ $last != *"error in agentInit"* ]]
}

restart_host() { # restart host i's dockerd (same data root) and wait until it answers; $2: why
	local i=$1 pid deadline=$((SECONDS + START_TIMEOUT))
	log "h$i: restarting its dockerd: $2"
	cleanup_host "$i"
	pid=$(start_host "$i")
	until timeout 5 docker -H "$(endpoint_of "$i")" info --format '{{.ID}}' >/dev/null 2>&1; do
		if ! alive "$pid" || ((SECONDS >= deadline)); then
			tail -n 30 "$(log_of "$i")" >&2 || true
			log "h$i: dockerd did not come back"
			return 1
		fi
		sleep 0.3
	done
	if ((i == SSH_HOST)); then ensure_sshd "$i"; fi
}

# plain_host i: host i ends up in no Swarm, with its gossip port free. A
# dockerd whose leave was not acknowledged within a second (its peers left at
# the same time, or are gone) logs "Could not close DB: timeout waiting for
# leave broadcast" and never closes its gossip listener; its next join or
# init then runs without gossip ("error in agentInit ... 7946: address
# already in use"), so overlay networks carry nothing (moby/moby#31913). Such
# a dockerd is restarted.
plain_host() {
	local i=$1 n
	leave_swarm "$i" || return 1
	[[ $(swarm_state "$i") == inactive ]] || return 0 # (not answering: up repairs it)
	for n in 1 2 3 4 5 6 7 8 9 10; do # (the listener closes right after the leave, if at all)
		gossip_port_bound "$i" || return 0
		((n == 10)) || sleep 0.3
	done
	restart_host "$i" "its Swarm gossip listener (port $GOSSIP_PORT) outlived the Swarm it left (moby/moby#31913)"
}

# plain_hosts i...: plain_host for the hosts that need it (in a Swarm, or
# with their gossip port taken), in parallel, managers after the others: a
# worker's leave its manager acknowledges closes its gossip, and a manager
# whose peers have left has none to wait for. A host that does not answer is
# left to up's repair.
plain_hosts() {
	local i s pids=() rc=0 others=() managers=()
	for i in "$@"; do
		s=$(timeout 10 docker -H "$(endpoint_of "$i")" info \
			--format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null) || continue
		case $s in
		"inactive "*) if gossip_port_bound "$i"; then others+=("$i"); fi ;;
		*" true") managers+=("$i") ;;
		*) others+=("$i") ;;
		esac
	done
	for i in "${others[@]}"; do plain_host "$i" & pids+=($!); done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	pids=()
	for i in "${managers[@]}"; do plain_host "$i" & pids+=($!); done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	return $rc
}

manager_ok() { # host m is the only manager of an unlabelled Swarm and advertises its own address
	local m=$1 s
	s=$(dk "$m" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}} {{.Swarm.Managers}} {{with .Swarm.Cluster}}{{len .Spec.Labels}}{{end}}' 2>/dev/null) || return 1
	[[ $s == "active true $(addr_of "$m") 1 0" ]]
}

worker_id() { # host i's node ID if it is an active worker advertising its own address, else nothing
	local i=$1 s
	s=$(dk "$i" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}} {{.Swarm.NodeID}}' 2>/dev/null) || return 0
	[[ $s == "active false $(addr_of "$i") "?* ]] && echo "${s##* }"
	return 0
}

swarm_nodes() { # the nodes host m (a manager) lists: "ID STATE AVAILABILITY LABEL-COUNT ROLE" lines
	local m=$1 ids
	ids=$(dk "$m" node ls -q 2>/dev/null) && [[ -n $ids ]] || return 1
	# shellcheck disable=SC2086 # one ID a word
	dk "$m" node inspect --format '{{.ID}} {{.Status.State}} {{.Spec.Availability}} {{len .Spec.Labels}} {{.Spec.Role}}' $ids 2>/dev/null
}

# swarm_complete m [w...]: hosts m, w... form exactly one Swarm, m its only
# manager: the manager lists exactly their nodes, all ready and active, none
# labelled, and each host's gossip started.
swarm_complete() {
	local m=$1 i id nodes want
	for i in "$@"; do gossip_ok "$i" || return 1; done
	manager_ok "$m" || return 1
	nodes=$(swarm_nodes "$m") || return 1
	id=$(dk "$m" info --format '{{.Swarm.NodeID}}' 2>/dev/null) || return 1
	want="$id ready active 0 manager"
	for i in "${@:2}"; do
		id=$(worker_id "$i")
		[[ -n $id ]] || return 1
		want+=$'\n'"$id ready active 0 worker"
	done
	[[ $(sort <<<"$nodes") == "$(sort <<<"$want")" ]]
}

# swarm_join m w...: hosts w... leave whatever Swarm they are in and join
# host m's as workers.
swarm_join() {
	local m=$1 i token
	shift
	(($#)) || return 0
	plain_hosts "$@" || die "could not make h${*// /, h} leave their Swarm"
	token=$(dk "$m" swarm join-token -q worker) || die "h$m: swarm join-token failed"
	for i in "$@"; do
		log "h$i: joining h$m's Swarm as a worker"
		dk "$i" swarm join --advertise-addr "$(addr_of "$i")" --listen-addr "$(swarm_addr_of "$i")" \
			--token "$token" "$(swarm_addr_of "$m")" >/dev/null || die "h$i: swarm join failed"
	done
}

# swarm_make m w...: make hosts m, w... one Swarm. A manager that is fine
# keeps its Swarm: the workers that are not in it (re)join, and the nodes it
# lists that are none of the hosts' (hosts that left, unlisted hosts) are
# removed. Otherwise every host leaves and m starts a new Swarm.
swarm_make() {
	local m=$1 i id mid nodes keep="" join=() stale=()
	if gossip_ok "$m" && manager_ok "$m" && mid=$(dk "$m" info --format '{{.Swarm.NodeID}}' 2>/dev/null) &&
		nodes=$(swarm_nodes "$m") && grep -qx "$mid ready active 0 manager" <<<"$nodes"; then
		for i in "${@:2}"; do
			id=$(worker_id "$i")
			if [[ -n $id ]] && gossip_ok "$i" && grep -qx "$id ready active 0 worker" <<<"$nodes"; then
				keep+=" $id"
			else
				join+=("$i")
			fi
		done
		while read -r id _; do
			[[ $id == "$mid" ]] || in_list "$id" "$keep" || stale+=("$id")
		done <<<"$nodes"
		log "h$m: repairing its Swarm (${#join[@]} worker(s) to (re)join, ${#stale[@]} other node(s) to remove)"
	else
		log "h$m: starting a new Swarm"
		plain_hosts "$@" || die "could not make h${*// /, h} leave their Swarm"
		dk "$m" swarm init --advertise-addr "$(addr_of "$m")" --listen-addr "$(swarm_addr_of "$m")" \
			>/dev/null || die "h$m: swarm init failed"
		join=("${@:2}")
	fi
	swarm_join "$m" "${join[@]}"
	for id in "${stale[@]}"; do
		dk "$m" node rm --force "$id" >/dev/null || die "h$m: node rm $id failed"
	done
}

# ---------------------------------------------------------------- commands
lock() {
	mkdir -p "$(dirname "$LOCK_FILE")"
	exec 9>"$LOCK_FILE"
	flock -w 300 9 || die "timed out waiting for $LOCK_FILE"
}

require() {
	((EUID == 0)) || die "must run as root (it creates network namespaces, iptables rules and dockerds)" 2
	local c missing=()
	for c in dockerd docker nsenter ip ss iptables setsid flock findmnt ps timeout tac; do
		local f
		f=$(type -P "$c" 2>/dev/null) && [[ -f $f && -x $f ]] || missing+=("$c")
	done
	((${#missing[@]} == 0)) || die "missing required commands: ${missing[*]}" 2
}

cmd_status() {
	local hosts i pid state
	hosts=$( { known_hosts; data_hosts; } | sort -nu)
	if [[ -z $hosts ]]; then echo "no test hosts"; return 0; fi
	printf '%-4s %-8s %-7s %-40s %-12s %-15s %-8s %s\n' NAME STATE PID ENDPOINT ADDRESS DRIVER SWARM CONTAINERS/IMAGES
	for i in $hosts; do
		pid=$(dockerd_pid "$i")
		local extra=- drv=- role=-
		[[ -s $DATA_DIR/h$i.driver ]] && drv=$(cat "$DATA_DIR/h$i.driver")
		if healthy "$i"; then
			state=running
			if extra=$(dk "$i" info --format '{{.Containers}}/{{.Images}} {{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null); then
				role=$(swarm_role "${extra#* }")
				extra=${extra%% *}
			else
				extra='?' role='?'
			fi
		elif [[ -n $pid ]]; then state=broken
		elif [[ -n $(known_hosts | grep -x "$i") ]]; then state=stale
		else state=stopped
		fi
		printf '%-4s %-8s %-7s %-40s %-12s %-15s %-8s %s\n' "h$i" "$state" "${pid:--}" "$(endpoint_of "$i")" \
			"$(addr_of "$i")" "$drv" "$role" "$extra"
	done
	local rec
	rec=$(swarm_record)
	if [[ -n $rec ]]; then
		# shellcheck disable=SC2086 # one host number a word
		if swarm_complete $rec; then state=complete; else state="NOT complete (run: $0 swarm $rec)"; fi
		printf 'Swarm of h%s (manager h%s, recorded in %s): %s\n' "${rec// /, h}" "${rec%% *}" "$SWARM_FILE" "$state"
	fi
	# the other endpoint kinds, when their host is running
	if healthy "$TLS_HOST"; then
		state="not answering"
		tls_answers && state=answering
		printf 'h%s also on %s (TLS, %s; client certificates: DOCKER_CERT_PATH=%s)\n' \
			"$TLS_HOST" "$(tls_endpoint)" "$state" "$TLS_DIR/client"
	fi
	pid=$(sshd_pid "$SSH_HOST")
	if [[ -n $pid ]] && healthy "$SSH_HOST"; then
		printf 'h%s also on %s (sshd pid %s; client: DEVORCH_SSH_ARGS="-F %s")\n' \
			"$SSH_HOST" "$(ssh_endpoint)" "$pid" "$SSH_DIR/ssh_config"
	fi
}

# extra_endpoints prints DEVORCH_TEST_TLS and DEVORCH_TEST_SSH values for the
# running hosts among $@ that have them: NAME=ENDPOINT;certs=DIR and
# NAME=ENDPOINT;config=FILE.
extra_endpoints() {
	local i
	for i in "$@"; do
		if ((i == TLS_HOST)) && tls_valid; then
			printf 'DEVORCH_TEST_TLS %s\n' "h$i=$(tls_endpoint);certs=$TLS_DIR/client"
		fi
		if ((i == SSH_HOST)) && [[ -n $(sshd_pid "$i") && -s $SSH_DIR/ssh_config ]]; then
			printf 'DEVORCH_TEST_SSH %s\n' "h$i=$(ssh_endpoint);config=$SSH_DIR/ssh_config"
		fi
	done
	return 0
}

host_spec() { echo "h$1=$(endpoint_of "$1");address=$(addr_of "$1")"; }

# env: the running hosts, those of the recorded Swarm (swarm I J...) apart:
# they are in DEVORCH_TEST_SWARM (manager first, only when that Swarm is
# complete), never in DEVORCH_TEST_HOSTS.
cmd_env() {
	local raw=0 i val="" sval="" running plain="" rec k v
	[[ ${1:-} == --raw ]] && raw=1
	running=$(running_hosts)
	rec=$(swarm_record)
	for i in $running; do
		in_list "$i" "$rec" && continue
		plain+=" $i"
		val+="${val:+,}$(host_spec "$i")"
	done
	if ((!raw)) && [[ -n $rec ]]; then
		local up=1
		for i in $rec; do in_list "$i" "$running" || up=0; done
		# shellcheck disable=SC2086 # one host number a word
		if ((up)) && swarm_complete $rec; then
			for i in $rec; do sval+="${sval:+,}$(host_spec "$i")"; done
		else
			log "the recorded Swarm of h${rec// /, h} is not complete: DEVORCH_TEST_SWARM is empty (run: $0 swarm $rec)"
		fi
	fi
	[[ -n $val$sval ]] || log "no running test hosts"
	if ((raw)); then
		# one line only: the Makefile reads it with $(...)
		printf 'DEVORCH_TEST_HOSTS=%s\n' "$val"
	else
		printf "export DEVORCH_TEST_HOSTS='%s'\n" "$val"
		printf "export DEVORCH_TEST_SWARM='%s'\n" "$sval"
		# shellcheck disable=SC2086
		extra_endpoints $plain | while read -r k v; do
			printf "export %s='%s'\n" "$k" "$v"
		done
	fi
}

# load IMAGE...: save the images from the default daemon once, load into every
# running host that lacks one of them (same name -> same image ID).
load_images() {
	local hosts=() imgs=("$@") img id hid i need_hosts=() need_imgs=() n
	mapfile -t hosts < <(running_hosts)
	((${#hosts[@]})) || die "no running test hosts (run: $0 up)"
	declare -A want=() needed=()
	for img in "${imgs[@]}"; do
		id=$(src image inspect --format '{{.Id}}' "$img" 2>/dev/null) || die "image $img not found on the default daemon ($SRC_HOST)"
		want[$img]=$id
	done
	for i in "${hosts[@]}"; do
		n=0
		for img in "${imgs[@]}"; do
			hid=$(dk "$i" image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)
			if [[ $hid != "${want[$img]}" ]]; then needed[$img]=1; n=1; fi
		done
		if ((n)); then need_hosts+=("$i"); else log "h$i: already has ${imgs[*]}"; fi
	done
	((${#need_hosts[@]})) || return 0
	for img in "${imgs[@]}"; do [[ -n ${needed[$img]:-} ]] && need_imgs+=("$img"); done
	mkdir -p "$DATA_DIR"
	local tar
	tar=$(mktemp "$DATA_DIR/.load.XXXXXX.tar")
	# shellcheck disable=SC2064
	trap "rm -f '$tar'" EXIT
	log "saving ${need_imgs[*]} from the default daemon"
	src save -o "$tar" "${need_imgs[@]}"
	local pids=() rc=0
	for i in "${need_hosts[@]}"; do
		log "h$i: loading ${need_imgs[*]}"
		docker -H "$(endpoint_of "$i")" load -q -i "$tar" >/dev/null &
		pids+=($!)
	done
	for n in "${!pids[@]}"; do
		wait "${pids[$n]}" || { log "h${need_hosts[$n]}: docker load failed"; rc=1; }
	done
	rm -f "$tar"; trap - EXIT
	for i in "${need_hosts[@]}"; do
		for img in "${need_imgs[@]}"; do
			hid=$(dk "$i" image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)
			[[ $hid == "${want[$img]}" ]] || { log "h$i: $img has ID '${hid}' after load, want ${want[$img]}"; rc=1; }
		done
	done
	return $rc
}

cmd_load() {
	(($#)) || usage
	lock
	load_images "$@"
}

cmd_swarm() {
	(($#)) || usage
	local i t0=$SECONDS list="$*"
	for i in "$@"; do
		if ! [[ $i =~ ^[1-9][0-9]*$ ]] || ((i > MAX_HOSTS)); then die "host numbers must be 1..$MAX_HOSTS, not '$i'" 2; fi
	done
	(($(printf '%s\n' "$@" | sort -u | wc -l) == $#)) || die "a host is listed twice: $list" 2
	lock
	for i in "$@"; do healthy "$i" || die "h$i is not running (run: $0 up N first)"; done
	# hosts of an earlier record that are not in this one become plain hosts
	local old=()
	for i in $(swarm_record); do in_list "$i" "$list" || old+=("$i"); done
	((${#old[@]} == 0)) || plain_hosts "${old[@]}" || die "could not make h${old[*]} leave their Swarm"
	echo "$list" >"$SWARM_FILE" # first: up leaves these hosts alone, running swarm again repairs them
	if swarm_complete "$@"; then
		log "h${list// /, h} already form one Swarm, h$1 its manager: nothing to do ($((SECONDS - t0))s)"
		return 0
	fi
	swarm_make "$@"
	local deadline=$((SECONDS + SWARM_READY_TIMEOUT))
	until swarm_complete "$@"; do
		if ((SECONDS >= deadline)); then
			dk "$1" node ls >&2 || true
			die "the Swarm of h${list// /, h} is not complete after ${SWARM_READY_TIMEOUT}s"
		fi
		sleep 0.3
	done
	log "swarm $list: h${list// /, h} form one Swarm, h$1 its manager; done in $((SECONDS - t0))s"
}

# swarm_tidy n (up): the recorded Swarm's hosts are left as they are when
# all of them are among h1..hn (else the record is dropped); every other host
# that is in a Swarm (left by a test or an earlier run: the Swarm state is in
# the data root) leaves it.
swarm_tidy() {
	local n=$1 rec i others=()
	rec=$(swarm_record)
	for i in $rec; do
		if ((i > n)); then
			log "the recorded Swarm of h${rec// /, h} has hosts beyond N=$n: dropping the record"
			rm -f "$SWARM_FILE"
			rec=""
			break
		fi
	done
	for i in $(seq 1 "$n"); do in_list "$i" "$rec" || others+=("$i"); done
	((${#others[@]} == 0)) || plain_hosts "${others[@]}" || die "a host could not leave its Swarm (see above)"
}

cmd_up() {
	local n=${1:-3} t0=$SECONDS i
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= MAX_HOSTS)) || die "N must be 1..$MAX_HOSTS" 2
	lock
	ensure_machine
	# hosts beyond N: stop them so the environment matches the request
	local extra=()
	for i in $(known_hosts); do
		if ((i > n)); then log "h$i: beyond N=$n, stopping"; extra+=("$i"); fi
	done
	if ((${#extra[@]})); then
		leave_swarms "${extra[@]}" || true # (their data roots keep no Swarm state)
		cleanup_hosts "${extra[@]}"
	fi
	local todo=() launched=()
	for i in $(seq 1 "$n"); do
		if healthy "$i"; then continue; fi
		todo+=("$i")
	done
	if ((${#todo[@]})); then
		local -A lpid=()
		((n < TLS_HOST)) || ensure_tls
		for i in "${todo[@]}"; do
			if [[ -n $(known_hosts | grep -x "$i") ]]; then log "h$i: repairing leftover state"; fi
			cleanup_host "$i"
			lpid[$i]=$(start_host "$i")
			launched+=("$i")
		done
		local deadline=$((SECONDS + START_TIMEOUT)) pending=("${launched[@]}") still failed=()
		while ((${#pending[@]})); do
			still=()
			for i in "${pending[@]}"; do
				if timeout 5 docker -H "$(endpoint_of "$i")" info --format '{{.ID}}' >/dev/null 2>&1; then
					log "h$i: ready after $((SECONDS - t0))s"
				elif ! alive "${lpid[$i]}"; then
					failed+=("$i")
				else
					still+=("$i")
				fi
			done
			pending=("${still[@]}")
			((${#pending[@]})) || break
			if ((SECONDS >= deadline)); then failed+=("${pending[@]}"); break; fi
			sleep 0.3
		done
		if ((${#failed[@]})); then
			for i in "${failed[@]}"; do
				if alive "${lpid[$i]}"; then
					log "h$i: dockerd did not answer within ${START_TIMEOUT}s; last lines of $(log_of "$i"):"
				else
					log "h$i: dockerd exited during startup; last lines of $(log_of "$i"):"
				fi
				tail -n 30 "$(log_of "$i")" >&2 || true
				cleanup_host "$i"
			done
			exit 1
		fi
	else
		log "h1..h$n already up"
	fi
	swarm_tidy "$n"
	((n < SSH_HOST)) || ensure_sshd "$SSH_HOST"
	if [[ -n ${DEVORCH_TESTHOST_IMAGES:-} ]]; then
		local img imgs=()
		for img in $DEVORCH_TESTHOST_IMAGES; do
			if src image inspect "$img" >/dev/null 2>&1; then imgs+=("$img"); else log "skipping $img: not on the default daemon"; fi
		done
		((${#imgs[@]} == 0)) || load_images "${imgs[@]}"
	fi
	log "up $n: done in $((SECONDS - t0))s"
	cmd_status
}

cmd_down() {
	local purge=0 i
	case ${1:-} in --purge) purge=1 ;; "") ;; *) usage ;; esac
	lock
	# Leave every Swarm first, so that the kept data roots hold no Swarm state
	# (a host that cannot is made to leave by the next up).
	# shellcheck disable=SC2046
	leave_swarms $(known_hosts) || log "warning: a host could not leave its Swarm"
	rm -f "$SWARM_FILE"
	# shellcheck disable=SC2046
	cleanup_hosts $(known_hosts)
	remove_fw_rules
	rmdir "$RUN_DIR" 2>/dev/null || true
	if ((purge)); then
		unmount_under "$DATA_DIR"
		rm -rf --one-file-system "$DATA_DIR" "$LOG_DIR"
		log "purged $DATA_DIR"
	fi
	log "down: done"
}

# restart I: restart host hI's dockerd alone (after a test stopped it),
# leaving every other host, and every Swarm, as they are (up N would stop
# the hosts above N and make unrecorded Swarm members leave).
cmd_restart() {
	local i=${1:-} t0=$SECONDS pid deadline
	[[ $i =~ ^[1-9][0-9]?$ ]] || die "restart I: I must be 1..$MAX_HOSTS" 2
	lock
	ensure_machine
	((i != TLS_HOST)) || ensure_tls
	cleanup_host "$i"
	pid=$(start_host "$i")
	deadline=$((SECONDS + START_TIMEOUT))
	until timeout 5 docker -H "$(endpoint_of "$i")" info --format '{{.ID}}' >/dev/null 2>&1; do
		if ! alive "$pid"; then
			tail -n 30 "$(log_of "$i")" >&2 || true
			cleanup_host "$i"
			die "h$i: dockerd exited during startup"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 30 "$(log_of "$i")" >&2 || true
			die "h$i: dockerd did not answer within ${START_TIMEOUT}s"
		fi
		sleep 0.3
	done
	((i != SSH_HOST)) || ensure_sshd "$SSH_HOST"
	log "h$i: restarted in $((SECONDS - t0))s"
}

main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	up | down | load | swarm | restart) require ;;
	status | env) require ;;
	*) usage ;;
	esac
	"cmd_$cmd" "$@"
}

main "$@"
