#!/bin/sh
# The client alone: an emulated fleet served by another process
# (examples/winhost), and BenchmarkClient deploying to it, so the figures
# (CPU per host deployed, peak heap and RSS at a concurrency) are the
# client's only. No root needed.
#
#   scripts/bench/client.sh                         # 1,000 hosts at concurrency 64
#   HOSTS=10000 CONCURRENCY=1000 scripts/bench/client.sh
#   SERVICE=nxsvc.exe scripts/bench/client.sh       # another service binary instead of the built-in one
set -eu
cd "$(dirname "$0")/../.."
hosts=${HOSTS:-1000}
conc=${CONCURRENCY:-64}
port=${PORT:-44545}
dir=$(mktemp -d)
trap 'kill "$fleet" 2>/dev/null; wait "$fleet" 2>/dev/null; rm -rf "$dir"' EXIT
ulimit -n "$(ulimit -Hn)"
go build -o "$dir/winhost" ./examples/winhost
BENCH_FLEET_PW=bench-Passw0rd "$dir/winhost" -count "$hosts" -install-time 1ms -listen ":$port" \
	-password-env BENCH_FLEET_PW >"$dir/hosts.csv" 2>"$dir/winhost.log" &
fleet=$!
# The CSV is complete once every host is up: a header and a line per host.
while [ ! -f "$dir/hosts.csv" ] || [ "$(wc -l <"$dir/hosts.csv")" -le "$hosts" ]; do
	kill -0 "$fleet" || { cat "$dir/winhost.log"; exit 1; }
	sleep 1
done
DEPLOYER_BENCH_FLEET="$dir/hosts.csv" DEPLOYER_BENCH_PORT="$port" DEPLOYER_BENCH_PASSWORD=bench-Passw0rd \
	DEPLOYER_BENCH_CONCURRENCY="$conc" DEPLOYER_BENCH_SERVICE="${SERVICE:+$(realpath "$SERVICE")}" \
	go test -count=1 -run '^$' -bench '^BenchmarkClient$' -benchtime 1x -timeout 60m ${PROFILE:+-cpuprofile "$PROFILE"} .
