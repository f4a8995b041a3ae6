#!/usr/bin/env bash
# build.sh compiles the example services as static binaries into their build
# contexts (examples/<name>/bin/<name>), where each Dockerfile COPYs them
# into a FROM scratch image. Needs only Go; no registry, no builder image.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
go=${GO:-go}
for name in api web worker; do
	CGO_ENABLED=0 "$go" build -trimpath -ldflags=-s -o "$name/bin/$name" "./$name"
	echo "built examples/$name/bin/$name"
done
