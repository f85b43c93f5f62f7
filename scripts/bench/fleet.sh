#!/bin/sh
# The deployer's benchmarks, each run once: BenchmarkFleet (1,000 emulated
# hosts, concurrency 16, 64 and 256) and BenchmarkDeployOneHost (per-host
# cost and SMB requests of one deployment). No root needed.
#
#   scripts/bench/fleet.sh
set -eu
cd "$(dirname "$0")/../.."
go test -count=1 -run '^$' -bench '^BenchmarkDeployOneHost$' -benchtime 200x .
exec go test -count=1 -run '^$' -bench '^BenchmarkFleet$' -benchtime 1x -timeout 30m .
