#!/usr/bin/env bash
# The whole test suite: every package, every lab peer it can find. As root on
# Debian 12 with the packages .ci/run installs, nothing is skipped; elsewhere
# lab tests skip with their reason unless DEPLOYER_LAB=required.
# Extra arguments go to `go test` (e.g. -race, -run X).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -count=1 -timeout 25m -p 2 "$@" ./...
