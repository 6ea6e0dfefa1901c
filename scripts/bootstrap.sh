#!/usr/bin/env bash
# Installs what the build and the tests need and a fresh Debian machine may lack.
# Idempotent and quick when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail

# Debian packages: SQLite headers (GRDB), OpenSSH server and client (SSH interop tests), bubblewrap (the
# process engine's container sandbox), the sqlite3 shell (tests that edit a stored record), prometheus (its
# promtool checks the /metrics exposition), and for the package test (scripts/package-deb.sh): systemd
# (systemd-analyze verify, which works without a running systemd), groff (renders the man page), python3 (writes
# it).
debian_packages=(libsqlite3-dev sqlite3 openssh-server openssh-client bubblewrap prometheus systemd groff-base python3)
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

# moto_server (a fake EC2 on 127.0.0.1 for the EC2 driver's tests; they are skipped without it): installed
# only in CI (CI=true) or when asked (DISPATCH_INSTALL_MOTO=1), with pip into the user's site.
if [[ "${CI:-}" == "true" || "${DISPATCH_INSTALL_MOTO:-}" == "1" ]] && ! command -v moto_server >/dev/null 2>&1 \
    && [[ ! -x "$HOME/.local/bin/moto_server" ]]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "bootstrap: installing python3-pip"
        sudo_cmd=()
        [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-pip
    fi
    echo "bootstrap: installing moto[server] with pip"
    # Debian's Python refuses user installs without --break-system-packages (PEP 668); they touch only ~/.local.
    python3 -m pip install --user --quiet 'moto[server]' 2>/dev/null \
        || python3 -m pip install --user --quiet --break-system-packages 'moto[server]'
fi
# (The EC2 tests also look for moto_server in ~/.local/bin, so PATH needs no change.)

# The Arvados Python SDK (a real client of the container API, used over https by TLSServeTests): installed in
# CI or when asked (DISPATCH_INSTALL_ARVADOS_SDK=1); elsewhere the test is skipped without it.
if [[ "${CI:-}" == "true" || "${DISPATCH_INSTALL_ARVADOS_SDK:-}" == "1" ]] \
    && ! python3 -c 'import arvados' >/dev/null 2>&1; then
    echo "bootstrap: installing arvados-python-client with pip"
    python3 -m pip install --user --quiet 'arvados-python-client>=3,<4' 2>/dev/null \
        || python3 -m pip install --user --quiet --break-system-packages 'arvados-python-client>=3,<4'
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: swift is not on PATH (expected a Swift 6.3 toolchain, e.g. /opt/swift/usr/bin)" >&2
    exit 1
fi
echo "bootstrap: ok"
