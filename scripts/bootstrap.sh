#!/usr/bin/env bash
# Installs what the build and the tests need and a fresh Debian machine may lack.
# Idempotent and quick when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail

# Debian packages: SQLite headers (GRDB), OpenSSH server and client (SSH interop tests).
debian_packages=(libsqlite3-dev openssh-server openssh-client)
# Headless Chromium for the dashboard's browser test: required in CI, optional elsewhere (the test skips).
if [[ ${CI:-} == true ]]; then
    debian_packages+=(chromium)
fi

missing=()
for package in "${debian_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: swift is not on PATH (expected a Swift 6.3 toolchain, e.g. /opt/swift/usr/bin)" >&2
    exit 1
fi
echo "bootstrap: ok"
