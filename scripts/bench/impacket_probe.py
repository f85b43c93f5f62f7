#!/usr/bin/python3
"""Parallel pre-flight probe with impacket's public API, the baseline of
TestProbeRateComparison (bench_test.go).

For each address: SMB login, list shares, then open \\pipe\\svcctl on the same
session and call OpenSCManagerW (the administrator check). Prints one line per
host, "OK <addr>" or "FAIL <addr> <error>", then a summary on stderr.

Usage: /usr/bin/python3 impacket_probe.py -user U -password-env NAME [-domain D]
           [-threads 64] [-timeout 2] [-port 445] ADDR_FILE
The password is read from the environment variable NAME.
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from impacket.dcerpc.v5 import scmr, transport
from impacket.smbconnection import SMBConnection


def probe(addr, port, user, password, domain, timeout):
    conn = None
    try:
        conn = SMBConnection(addr, addr, sess_port=port, timeout=timeout)
        conn.login(user, password, domain)
        conn.listShares()
        rpc = transport.SMBTransport(addr, dstport=port, filename=r'\svcctl', smb_connection=conn)
        dce = rpc.get_dce_rpc()
        dce.connect()
        dce.bind(scmr.MSRPC_UUID_SCMR)
        resp = scmr.hROpenSCManagerW(dce)
        scmr.hRCloseServiceHandle(dce, resp['lpScHandle'])
        dce.disconnect()
        return 'OK %s' % addr
    except Exception as e:  # every failure is a failed probe
        return 'FAIL %s %s' % (addr, str(e).replace('\n', ' '))
    finally:
        if conn is not None:
            try:
                conn.logoff()
            except Exception:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-user', required=True)
    ap.add_argument('-password-env', required=True)
    ap.add_argument('-domain', default='')
    ap.add_argument('-threads', type=int, default=64)
    ap.add_argument('-timeout', type=float, default=2)
    ap.add_argument('-port', type=int, default=445)
    ap.add_argument('addr_file')
    a = ap.parse_args()
    password = os.environ.get(a.password_env, '')
    with open(a.addr_file) as f:
        addrs = [line.strip() for line in f if line.strip()]
    start = time.monotonic()
    ok = 0
    with ThreadPoolExecutor(max_workers=a.threads) as pool:
        for line in pool.map(lambda x: probe(x, a.port, a.user, password, a.domain, a.timeout), addrs):
            print(line, flush=True)
            ok += line.startswith('OK ')
    took = time.monotonic() - start
    print('%d hosts, %d ok, %.2f s, %.1f hosts/s' % (len(addrs), ok, took, len(addrs) / took), file=sys.stderr)


if __name__ == '__main__':
    main()
