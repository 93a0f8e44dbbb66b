#!/usr/bin/env bash
# Makes a minimal Node.js base image from this machine's own Node.js and npm, for building the worker
# image where no registry is reachable: node, its shared libraries, npm, a busybox shell (for RUN steps)
# and a "node" user (uid 1000), imported with `docker import`. Usage: docker/node-base/build.sh [TAG]
set -euo pipefail

tag="${1:-action-worker/node-base:20}"
node_bin="$(command -v node)"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
# Debian's busybox-static: a static binary, so it needs nothing else in the image.
busybox_bin=/bin/busybox
[ -x "$busybox_bin" ] || { echo "busybox-static is needed (apt-get install busybox-static)" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,usr/lib/node_modules,etc,tmp,root,home/node}
chmod 1777 "$root/tmp"
cp "$node_bin" "$root/usr/bin/node"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
printf '#!/bin/sh\nexec /usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js "$@"\n' > "$root/usr/bin/npm"
printf '#!/bin/sh\nexec /usr/bin/node /usr/lib/node_modules/npm/bin/npx-cli.js "$@"\n' > "$root/usr/bin/npx"
chmod 755 "$root/usr/bin/npm" "$root/usr/bin/npx"
# The shared libraries node links against, at their paths (symlinks resolved).
for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp "$busybox_bin" "$root/bin/busybox"
for applet in sh ls cat id env mkdir rm cp mv chmod chown ln; do ln -s busybox "$root/bin/$applet"; done
ln -s /bin/busybox "$root/usr/bin/env" # for "#!/usr/bin/env node" scripts
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$root/etc/group"
chown 1000:1000 "$root/home/node"
# This host's trust store, so npm inside trusts what npm here trusts (a proxy's CA included).
ca_bundle=/etc/ssl/certs/ca-certificates.crt
ca_env=()
if [ -f "$ca_bundle" ]; then
  mkdir -p "$root/etc/ssl/certs"
  cp "$ca_bundle" "$root$ca_bundle"
  ca_env=(--change "ENV NODE_EXTRA_CA_CERTS=$ca_bundle")
fi
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV HOME=/root' \
  "${ca_env[@]}" \
  --change "LABEL org.opencontainers.image.description=\"Node.js $(node --version) from the build host\"" \
  - "$tag" >/dev/null
echo "$tag"
