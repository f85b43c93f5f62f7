#!/bin/sh
# Probe rate of deployer.Probe (examples/probe, 64 at once) against a
# 64-thread impacket probe (impacket_probe.py) and `smbclient -L` per host
# (smbclient_probe.sh, 64 at once), measured in the same run, with hosts/s,
# successful hosts/s and peak RSS (/usr/bin/time -v) of each, against:
#   samba    - one Samba server with HOSTS addresses in a network namespace,
#              10% of them dropped (needs root, samba, iptables);
#   emulated - HOSTS emulated Windows hosts on 127.10.x.y, 10% refusing.
# Both need smbclient, python3-impacket and time (Debian packages).
#
#   scripts/bench/probe_rate.sh                  # both fleets, 200 hosts
#   HOSTS=500 FLEET=emulated scripts/bench/probe_rate.sh
set -eu
cd "$(dirname "$0")/../.."
DEPLOYER_BENCH_PROBE=1 DEPLOYER_BENCH_PROBE_HOSTS="${HOSTS:-200}" \
	exec go test -count=1 -run "^TestProbeRateComparison\$/${FLEET:-}" -v -timeout 30m .
