#!/usr/bin/env bash
# Builds action-worker/busybox:latest: FROM scratch plus Debian's static busybox, with no registry.
# The base image of the example action and the integration tests. Skipped when the image exists and was
# built from the same busybox binary; --force rebuilds.
set -euo pipefail

image="${ACTION_WORKER_BASE_IMAGE:-action-worker/busybox:latest}"
busybox="${BUSYBOX:-/bin/busybox}"
[ -x "$busybox" ] || { echo "build.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build.sh: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

checksum="$(sha256sum "$busybox" | cut -c1-64)"
if [ "${1:-}" != "--force" ] &&
  [ "$(docker image inspect -f '{{index .Config.Labels "dev.action-worker.busybox-sha256"}}' "$image" 2>/dev/null)" = "$checksum" ]; then
  exit 0
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$busybox" "$context/busybox"
cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/busybox", "mkdir", "-p", "/tmp", "/root", "/etc"]
RUN ["/bin/busybox", "sh", "-c", "chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group"]
ENV PATH=/usr/local/bin:/usr/bin:/bin
LABEL dev.action-worker.busybox-sha256="$checksum"
CMD ["/bin/sh"]
DOCKERFILE
echo "build.sh: building $image" >&2
if ! docker build -q -t "$image" "$context" >"$context/build.log" 2>&1; then
  cat "$context/build.log" >&2
  exit 1
fi
