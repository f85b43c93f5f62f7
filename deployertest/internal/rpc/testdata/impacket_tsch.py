# impacket's TSCH client against the emulated host's \pipe\atsvc (sealed
# NTLM, as atexec.py binds), printing what it saw as JSON.
import json
import sys
import time

from impacket.dcerpc.v5 import transport, tsch
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, RPC_C_AUTHN_LEVEL_CONNECT, DCERPCException

port, user, password, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = {}

XML = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers><CalendarTrigger><StartBoundary>2015-07-15T20:35:13.2757294</StartBoundary><Enabled>true</Enabled><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay></CalendarTrigger></Triggers>
  <Principals><Principal id="LocalSystem"><UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel></Principal></Principals>
  <Settings><MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy><AllowHardTerminate>true</AllowHardTerminate><Enabled>true</Enabled><Hidden>true</Hidden><ExecutionTimeLimit>P3D</ExecutionTimeLimit><Priority>7</Priority></Settings>
  <Actions Context="LocalSystem"><Exec><Command>%s</Command><Arguments>/C whoami</Arguments></Exec></Actions>
</Task>
"""


def bind(level):
    t = transport.DCERPCTransportFactory(r'ncacn_np:127.0.0.1[\pipe\atsvc]')
    t.set_dport(port)
    t.set_credentials(user, password, '', '', '')
    d = t.get_dce_rpc()
    d.set_auth_level(level)
    d.connect()
    d.bind(tsch.MSRPC_UUID_TSCHS)
    return d


def code(e):
    return getattr(e, 'error_code', None) or getattr(e, 'get_error_code', lambda: None)()


d = bind(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
r = tsch.hSchRpcRegisterTask(d, '\\nxtest', XML % command, tsch.TASK_CREATE, NULL, tsch.TASK_LOGON_NONE)
out['registered'] = r['pActualPath'][:-1]
try:
    tsch.hSchRpcRegisterTask(d, '\\nxtest', XML % command, tsch.TASK_CREATE, NULL, tsch.TASK_LOGON_NONE)
except DCERPCException as e:
    out['register_again'] = code(e)
try:
    tsch.hSchRpcRegisterTask(d, '\\nxbad', '<Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Actions><Exec><oops', tsch.TASK_CREATE, NULL, tsch.TASK_LOGON_NONE)
except DCERPCException as e:
    out['register_bad'] = code(e)
try:
    tsch.hSchRpcGetLastRunInfo(d, '\\nxtest')
    out['before_run'] = 0
except DCERPCException as e:
    out['before_run'] = code(e)
out['enum'] = [n['Data'][:-1] for n in tsch.hSchRpcEnumTasks(d, '\\', tsch.TASK_ENUM_HIDDEN)['pNames']]
out['xml_has_command'] = command in tsch.hSchRpcRetrieveTask(d, '\\nxtest')['pXml']
tsch.hSchRpcRun(d, '\\nxtest')
last = None
for _ in range(100):
    r = tsch.hSchRpcGetLastRunInfo(d, '\\nxtest')
    last = r['pLastReturnCode']
    if last != 0x41301:
        break
    time.sleep(0.05)
out['last_code'] = last
out['last_year_set'] = r['pLastRuntime']['wYear'] > 2000
out['delete'] = tsch.hSchRpcDelete(d, '\\nxtest')['ErrorCode']
try:
    tsch.hSchRpcDelete(d, '\\nxtest')
except DCERPCException as e:
    out['delete_again'] = code(e)
d.disconnect()

d = bind(RPC_C_AUTHN_LEVEL_CONNECT)
try:
    tsch.hSchRpcEnumTasks(d, '\\', tsch.TASK_ENUM_HIDDEN)
    out['connect_level'] = 'accepted'
except DCERPCException as e:
    out['connect_level'] = str(e)
print(json.dumps(out))
