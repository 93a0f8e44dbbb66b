#!/usr/bin/env bash
# Makes a minimal Python 3 image for the tests, with no registry: a Debian minbase root filesystem with
# python3-minimal plus the standard library's HTTP and JSON modules (libpython3.11-stdlib), made by
# debootstrap from the Debian mirror and imported with `docker import`. Only the standard library: the test
# actions call the API with urllib, as the SDK does. Usage: docker/python-test/build.sh [TAG]
# Needs root and debootstrap (scripts/provision.sh installs it). Takes a minute or two, once per machine.
set -euo pipefail

tag="${1:-action-worker-test/python3:1}"
suite="${ACTION_WORKER_DEBIAN_SUITE:-bookworm}"
mirror="${ACTION_WORKER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
command -v debootstrap >/dev/null || { echo "debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
# minbase: essential packages and apt only; python3-minimal for the interpreter, libpython3.11-stdlib for
# urllib, http.client, json and the rest of the standard library.
debootstrap --variant=minbase --include=python3-minimal,libpython3.11-stdlib "$suite" "$root" "$mirror" >&2
# What an image does not need: package caches and docs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
  "$root"/usr/share/man "$root"/usr/share/locale
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'CMD ["/usr/bin/python3"]' \
  --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase with python3-minimal\"" \
  - "$tag" >/dev/null
echo "$tag"
