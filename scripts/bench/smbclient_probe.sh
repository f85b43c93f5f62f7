#!/bin/sh
# One `smbclient -L` probe of address $1 as user $2 (password in $PASSWD),
# with a per-operation timeout of $3 seconds, on TCP port $4 (445), and a
# 10 s bound on the whole run. Prints "OK <addr>" or "FAIL <addr> <last line of smbclient's output>".
# Used by TestProbeRateComparison (bench_test.go) through xargs -P.
addr=$1 user=$2 t=${3:-2} port=${4:-445}
out=$(timeout 10 smbclient --configfile=/dev/null -t "$t" -p "$port" -U "$user" -L "//$addr" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "OK $addr"
else
	echo "FAIL $addr rc=$rc $(printf '%s\n' "$out" | tail -n 1)"
fi
