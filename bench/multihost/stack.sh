# shellcheck shell=bash
# stack.sh (sourced by bench/multihost/run.sh and bench/network/run.sh): the
# multi-host bench stack.
#
# s01..s30, IMAGE (default devorch-test/testapp:latest), each on its own port
# (PORT=90NN, expose "90NN", so that the ports devorch publishes on a host's
# address for cross-host links never clash), healthcheck every 1 s;
# s25..s30 depend on s01, s03, ..., s11 with service_healthy (6 edges,
# depth 1).

# dep_of N: the service sN (25..30) depends on: s01, s03, ... s11 (odd, so
# that name-ordered placement puts most pairs on two hosts).
dep_of() { printf 's%02d' $((2 * ($1 - 24) - 1)); }

# multihost_stack [IMAGE] prints the compose file.
multihost_stack() {
	local image=${1:-devorch-test/testapp:latest} s
	echo "# 30 services, bench/multihost/stack.sh"
	echo "services:"
	for ((s = 1; s <= 30; s++)); do
		printf '  s%02d:\n    image: %s\n' $s "$image"
		printf '    environment:\n      NAME: s%02d\n      PORT: "90%02d"\n' $s $s
		printf '    expose: ["90%02d"]\n' $s
		printf '    healthcheck:\n      test: ["CMD", "/testapp", "health"]\n      interval: 1s\n      timeout: 2s\n      retries: 3\n'
		if ((s >= 25)); then
			printf '    depends_on:\n      %s:\n        condition: service_healthy\n' "$(dep_of $s)"
		fi
	done
}
