#!/usr/bin/env bash
# Runs smbtorture (Debian's samba-testsuite) against the emulated Windows host and against a Samba smbd in a network
# namespace, and prints both pass/fail counts side by side per suite, then every test whose outcome differs (-all:
# every test). Fails when a targeted test that Samba passes fails on the emulator, except the out-of-scope ones
# listed in deployertest/internal/torture. Needs root (network namespaces) and samba, samba-testsuite.
#
#   ./scripts/smbtorture.sh                       # every suite
#   ./scripts/smbtorture.sh smb2.read smb2.dir    # some suites
#   ./scripts/smbtorture.sh -all smb2.compound    # every test, not only the differing ones
set -euo pipefail
cd "$(dirname "$0")/.."

all=0
suites=()
for a in "$@"; do
	case "$a" in
	-all) all=1 ;;
	-h | --help) sed -n '2,9p' "$0"; exit 0 ;;
	*) suites+=("$a") ;;
	esac
done
table=$(mktemp)
trap 'rm -f "$table"' EXIT
status=0
SMBTORTURE_SUITES=$(IFS=,; echo "${suites[*]:-}") SMBTORTURE_TABLE="$table" SMBTORTURE_ALL="$all" DEPLOYER_LAB=required \
	go test ./deployertest/internal/torture -run '^TestSmbtorture$' -count=1 -timeout 20m >"$table.log" 2>&1 || status=$?
if [[ -s "$table" ]]; then
	cat "$table"
fi
if ((status != 0)); then
	grep -E '^\s+torture_test.go:[0-9]+: ' "$table.log" | grep -v 'smbtorture, emulator vs Samba' || tail -30 "$table.log"
fi
rm -f "$table.log"
exit "$status"
