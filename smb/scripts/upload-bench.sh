#!/bin/sh
# Upload throughput: smb.Upload (concurrent 1 MiB WriteAt) vs go-smb2 io.Copy
# (one write in flight) vs `smbclient put`, in one run, to a Samba ADMIN$ in a
# network namespace through the lab's userspace delay proxy.
#
#   sudo smb/scripts/upload-bench.sh [MiB] [one-way delay ms] [runs]
#
# Defaults: 256 MiB, 10 ms, 1 run. Needs root, samba and smbclient. Prints
# MiB/s and peak memory (Go: live heap above baseline; smbclient: max RSS).
set -eu
cd "$(dirname "$0")/../.."
export SMB_BENCH_MIB="${1:-256}" SMB_BENCH_DELAY_MS="${2:-10}"
runs="${3:-1}"
go test ./smb/ -run '^$' -bench '^BenchmarkLabUpload$' -benchtime=1x -count="$runs" -timeout 30m -v |
	grep -E 'MiB/s|one-way|^(ok|FAIL|---)'
