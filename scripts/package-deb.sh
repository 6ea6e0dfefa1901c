#!/usr/bin/env bash
# Builds the Debian package: both executables, the systemd unit, an example configuration under /etc, man pages
# generated from the argument parser, shell completions and the operator documents.
#
#   scripts/package-deb.sh                       # release build, then dist/dispatch-cloud_<version>_<arch>.deb
#   scripts/package-deb.sh --build-dir .build/debug --output /tmp/pkg --compression none   # what the tests do
#
# Options:
#   --build-dir DIR     use the executables already built in DIR instead of building in release mode
#   --output DIR        where to write the .deb (default: dist)
#   --version V         package version (default: the one dispatch-cloud --version prints, "-" as "~")
#   --compression C     dpkg-deb compressor: xz (default), gzip or none
#   --install ROOT      also unpack the package into ROOT (a scratch root) with dpkg-deb -x
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=""
output=dist
version=""
compression=xz
install_root=""
while (($#)); do
    case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --compression) compression=$2; shift 2 ;;
    --install) install_root=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "package-deb: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ -z $build_dir ]]; then
    # SwiftPM builds one --product per command (given two, it builds only the last).
    swift build -c release --product dispatch-cloud
    swift build -c release --product dispatch-runner
    build_dir=.build/release
fi
for executable in dispatch-cloud dispatch-runner; do
    [[ -x $build_dir/$executable ]] || { echo "package-deb: $build_dir/$executable is missing" >&2; exit 1; }
done

cli=$build_dir/dispatch-cloud
[[ -n $version ]] || version=$("$cli" --version | tr -- '-' '~')
arch=$(dpkg --print-architecture)
work=$(mktemp -d "${TMPDIR:-/tmp}/dispatch-cloud-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/dispatch-cloud_${version}_${arch}

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/dispatch-cloud" \
    "$root/usr/share/man/man1" "$root/usr/share/doc/dispatch-cloud" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"

install -m 0755 "$build_dir/dispatch-cloud" "$build_dir/dispatch-runner" "$root/usr/bin/"
install -m 0644 packaging/dispatch-cloud.service "$root/lib/systemd/system/"

# The example configuration: the standalone one, with the service's state directory and a note on secrets.
{
    echo "# Installed by the dispatch-cloud package. Replace every token before use (see operations.md),"
    echo "# then: systemctl enable --now dispatch-cloud"
    sed -e 's|DataDirectory: .*|DataDirectory: /var/lib/dispatch-cloud|' \
        -e '/# Under the user.s state directory/,/# never collide/d' examples/standalone.yml
} >"$root/etc/dispatch-cloud/config.yml"
chmod 0640 "$root/etc/dispatch-cloud/config.yml"
install -m 0644 examples/ec2.yml "$root/usr/share/doc/dispatch-cloud/ec2.yml.example"

# Man pages from the argument parser's own description of the command line.
"$cli" --experimental-dump-help | python3 scripts/generate-man.py --source "DispatchCloud $version" \
    >"$root/usr/share/man/man1/dispatch-cloud.1"
"$build_dir/dispatch-runner" --help 2>&1 | python3 scripts/generate-man.py --plain dispatch-runner \
    --abstract "the runner the dispatcher deploys to each worker VM (crunch-run compatible)" \
    --source "DispatchCloud $version" >"$root/usr/share/man/man1/dispatch-runner.1"
gzip -9n "$root/usr/share/man/man1/"*.1

# Shell completions, from the argument parser.
"$cli" --generate-completion-script bash >"$root/usr/share/bash-completion/completions/dispatch-cloud"
"$cli" --generate-completion-script zsh >"$root/usr/share/zsh/vendor-completions/_dispatch-cloud"
"$cli" --generate-completion-script fish >"$root/usr/share/fish/vendor_completions.d/dispatch-cloud.fish"

for doc in README.md CHANGELOG.md docs/operations.md docs/configuration.md docs/security.md docs/tls.md \
    docs/container-api.md docs/management-api.md; do
    install -m 0644 "$doc" "$root/usr/share/doc/dispatch-cloud/"
done
install -m 0644 LICENSE "$root/usr/share/doc/dispatch-cloud/copyright"

installed_size=$(du -sk "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: dispatch-cloud
Version: $version
Architecture: $arch
Maintainer: DispatchCloud developers <dispatch-cloud@localhost>
Installed-Size: $installed_size
Depends: libc6, libgcc-s1, libstdc++6, zlib1g, libxml2, libsqlite3-0, adduser
Recommends: bubblewrap
Section: admin
Priority: optional
Homepage: https://arvados.org/
Description: Arvados-compatible cloud dispatcher for batch containers
 dispatch-cloud takes a queue of containers, picks the cheapest instance type
 that fits, boots VMs, runs each container through a runner reached over SSH
 and shuts idle VMs down. Standalone, it serves its own Arvados-compatible
 container API on SQLite and can use this machine as its cloud.
CONTROL
echo /etc/dispatch-cloud/config.yml >"$root/DEBIAN/conffiles"

cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd dispatch-cloud >/dev/null; then
        adduser --system --group --home /var/lib/dispatch-cloud --no-create-home dispatch-cloud
    fi
    chgrp dispatch-cloud /etc/dispatch-cloud/config.yml || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null || true
        # An upgrade restarts a running dispatcher: the new one adopts the instances and containers.
        systemctl try-restart dispatch-cloud.service >/dev/null || true
    fi
fi
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop dispatch-cloud.service >/dev/null || true
fi
PRERM
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
# The data directory (/var/lib/dispatch-cloud) is kept, even on purge: it holds the container database.
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$output"
package=$output/dispatch-cloud_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"$compression" --build "$root" "$package" >/dev/null
echo "package-deb: $package"

if [[ -n $install_root ]]; then
    mkdir -p "$install_root"
    dpkg-deb -x "$package" "$install_root"
    echo "package-deb: unpacked into $install_root"
fi
