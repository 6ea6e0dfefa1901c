#!/usr/bin/env bash
# The project's checks, in order: format lint → build (warnings as errors) → tests.
# This is the README's test command and what CI runs.
#
# Environment:
#   DISPATCH_TEST_TIMEOUT  seconds the test run may take before it is killed (default 1500)
#   SKIP_BOOTSTRAP=1       do not check/install system packages first
set -euo pipefail
cd "$(dirname "$0")/.."

[[ ${SKIP_BOOTSTRAP:-} == 1 ]] || bash scripts/bootstrap.sh

echo "== format lint"
git ls-files -z '*.swift' | xargs -0 swift format lint --strict --parallel

echo "== build (warnings as errors)"
# Warnings are errors through Package.swift (this package's targets only): no -Xswiftc flag here, because one
# would change every dependency's compile and so rebuild what `swift run dispatch-cloud demo` already built. The
# import check changes no compiler flag.
start=$(date +%s)
swift build --build-tests --explicit-target-dependency-import-check error
echo "build took $(($(date +%s) - start)) s"

echo "== tests"
# Bounded, so a hung test fails the run instead of eating CI's budget.
timeout --signal=TERM --kill-after=30 "${DISPATCH_TEST_TIMEOUT:-1500}" \
    swift test --skip-build --disable-xctest
