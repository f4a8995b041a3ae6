#!/usr/bin/env bash
# demo.sh builds the example services and runs the stack with devorch.
# In a terminal it stays attached (logs, Ctrl-C stops the stack); otherwise
# it starts the stack detached, waits for it, shows it and exits.
# Run from anywhere; `make demo` builds bin/devorch first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "demo: $*" >&2; exit 1; }

[ -x bin/devorch ] || die "bin/devorch is missing: run 'make build' (or 'make demo') first"
# devorch talks to the Docker API itself; ask it, so DOCKER_HOST and friends
# are honoured exactly as they will be for `up`.
if ! err=$(bin/devorch -f examples/compose.yaml ps 2>&1 >/dev/null); then
	hint="start the Docker daemon, or point DOCKER_HOST at one"
	command -v docker >/dev/null 2>&1 || hint="Docker does not seem to be installed (no docker command): install Docker Engine, https://docs.docker.com/engine/install/"
	die "Docker is not reachable, the demo needs it: $hint
  ${err#Error: }"
fi

./examples/build.sh

devorch=(bin/devorch -f examples/compose.yaml)
url="http://localhost:${WEB_PORT:-8080}"
stop="bin/devorch -f examples/compose.yaml down -v"

if [ -t 1 ]; then
	echo "Starting the example stack attached: open $url; Ctrl-C stops it."
	echo "Afterwards remove it (containers, network, counter volume) with: $stop"
	exec "${devorch[@]}" up --build
fi

"${devorch[@]}" up -d --build --wait
"${devorch[@]}" ps
cat <<MSG

The example stack is running. Open $url
  logs:    bin/devorch -f examples/compose.yaml logs -f
  stop it: $stop
MSG
