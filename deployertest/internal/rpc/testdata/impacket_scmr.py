"""Drives the emulated host's svcctl and srvsvc over ncacn_ip_tcp with impacket.

Usage: impacket_scmr.py ADMIN_PORT USER_PORT FRAG
Prints one JSON object with the Win32 codes and values observed.
"""
import json
import sys
import time

from impacket.dcerpc.v5 import scmr, srvs, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException

admin_port, user_port, frag = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
res = {}


def dial(port, iface, frag=0, **kw):
    t = transport.DCERPCTransportFactory('ncacn_ip_tcp:127.0.0.1[%d]' % port)
    dce = t.get_dce_rpc()
    dce.connect()
    if frag:
        dce.set_max_fragment_size(frag)
    dce.bind(iface, **kw)
    return dce


def code(f):
    try:
        f()
        return 0
    except DCERPCException as e:
        c = e.get_error_code()
        return c if c is not None else str(e)


dce = dial(admin_port, scmr.MSRPC_UUID_SCMR, frag)
h = scmr.hROpenSCManagerW(dce)['lpScHandle']
path = 'C:\\Windows\\nx\\svc.exe --log C:\\Windows\\nx\\install.log ' + 'p' * 1000 + '\x00'
svc = scmr.hRCreateServiceW(dce, h, 'nxsvc\x00', 'nx svc\x00', lpBinaryPathName=path,
                            dwStartType=scmr.SERVICE_DEMAND_START)['lpServiceHandle']
res['exists'] = code(lambda: scmr.hRCreateServiceW(dce, h, 'NXSVC\x00', 'other\x00', lpBinaryPathName='C:\\x.exe\x00'))
res['does_not_exist'] = code(lambda: scmr.hROpenServiceW(dce, h, 'nope\x00'))
cfg = scmr.hRQueryServiceConfigW(dce, svc)['lpServiceConfig']
res['config_path'] = cfg['lpBinaryPathName'][:-1]
res['start'] = code(lambda: scmr.hRStartServiceW(dce, svc))
res['already_running'] = code(lambda: scmr.hRStartServiceW(dce, svc))
res['running_state'] = scmr.hRQueryServiceStatus(dce, svc)['lpServiceStatus']['dwCurrentState']
res['stop'] = code(lambda: scmr.hRControlService(dce, svc, scmr.SERVICE_CONTROL_STOP))
for _ in range(500):
    st = scmr.hRQueryServiceStatus(dce, svc)['lpServiceStatus']
    if st['dwCurrentState'] == scmr.SERVICE_STOPPED:
        break
    time.sleep(0.01)
res['stopped_exit'] = [st['dwCurrentState'], st['dwWin32ExitCode'], st['dwServiceSpecificExitCode']]
res['not_active'] = code(lambda: scmr.hRControlService(dce, svc, scmr.SERVICE_CONTROL_STOP))
res['delete'] = code(lambda: scmr.hRDeleteService(dce, svc))
res['delete_again'] = code(lambda: scmr.hRDeleteService(dce, svc))
res['open_marked'] = code(lambda: scmr.hROpenServiceW(dce, h, 'nxsvc\x00'))
scmr.hRCloseServiceHandle(dce, svc)
res['open_deleted'] = code(lambda: scmr.hROpenServiceW(dce, h, 'nxsvc\x00'))

hang = scmr.hRCreateServiceW(dce, h, 'hang\x00', 'hang\x00', lpBinaryPathName='C:\\Windows\\nx\\svc.exe\x00',
                             dwStartType=scmr.SERVICE_DEMAND_START)['lpServiceHandle']
res['timeout'] = code(lambda: scmr.hRStartServiceW(dce, hang))
gone = scmr.hRCreateServiceW(dce, h, 'gone\x00', 'gone\x00', lpBinaryPathName='C:\\Windows\\nx\\missing.exe\x00',
                             dwStartType=scmr.SERVICE_DEMAND_START)['lpServiceHandle']
res['quarantined'] = code(lambda: scmr.hRStartServiceW(dce, gone))
off = scmr.hRCreateServiceW(dce, h, 'off\x00', 'off\x00', lpBinaryPathName='C:\\Windows\\nx\\svc.exe\x00',
                            dwStartType=scmr.SERVICE_DISABLED)['lpServiceHandle']
res['disabled'] = code(lambda: scmr.hRStartServiceW(dce, off))
res['enum'] = sorted(s['lpServiceName'][:-1] for s in scmr.hREnumServicesStatusW(dce, h))
res['unknown_opnum'] = code(lambda: dce.call(200, b'\x00' * 8) or dce.recv())
dce.disconnect()

user = dial(user_port, scmr.MSRPC_UUID_SCMR)
res['user_all_access'] = code(lambda: scmr.hROpenSCManagerW(user))
res['user_connect'] = code(lambda: scmr.hROpenSCManagerW(user, dwDesiredAccess=scmr.SC_MANAGER_CONNECT))
user.disconnect()

try:
    d64 = dial(admin_port, scmr.MSRPC_UUID_SCMR, frag, transfer_syntax=('71710533-BEBA-4937-8319-B5DBEF9CCC36', '1.0'))
    h64 = scmr.hROpenSCManagerW(d64)['lpScHandle']
    s64 = scmr.hROpenServiceW(d64, h64, 'Spooler\x00')['lpServiceHandle']
    res['ndr64'] = scmr.hRQueryServiceStatus(d64, s64)['lpServiceStatus']['dwCurrentState']
    d64.disconnect()
except Exception as e:
    res['ndr64'] = str(e)

sv = dial(admin_port, srvs.MSRPC_UUID_SRVS)
shares = srvs.hNetrShareEnum(sv, 1)['InfoStruct']['ShareInfo']['Level1']['Buffer']
res['shares'] = [s['shi1_netname'][:-1] for s in shares]
sv.disconnect()
print(json.dumps(res))
