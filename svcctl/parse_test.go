package svcctl

import (
	"encoding/binary"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodeEnum builds an REnumServicesStatusW buffer the way Windows lays it
// out: the fixed-size entries first, then the strings, pointed to by
// offsets from the start of the buffer.
func encodeEnum(entries []ServiceEntry) []byte {
	fixed := len(entries) * enumEntrySize
	b := make([]byte, fixed)
	str := func(s string) uint32 {
		off := uint32(len(b))
		for _, u := range utf16.Encode([]rune(s)) {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		b = binary.LittleEndian.AppendUint16(b, 0)
		return off
	}
	for i, e := range entries {
		nameOff, dispOff := str(e.Name), str(e.DisplayName)
		w := func(j int, v uint32) { binary.LittleEndian.PutUint32(b[i*enumEntrySize+4*j:], v) }
		w(0, nameOff)
		w(1, dispOff)
		w(2, e.Status.Type)
		w(3, uint32(e.Status.State))
		w(4, e.Status.ControlsAccepted)
		w(5, e.Status.Win32ExitCode)
		w(6, e.Status.ServiceSpecificExitCode)
		w(7, e.Status.CheckPoint)
		w(8, uint32(e.Status.WaitHint/time.Millisecond))
	}
	return b
}

func TestParseEnumServices(t *testing.T) {
	two := []ServiceEntry{
		{Name: "Spooler", DisplayName: "Print Spooler", Status: Status{Type: 0x110, State: Running, ControlsAccepted: AcceptStop}},
		{Name: "nxd-\U0001F600", DisplayName: "é", Status: Status{Type: 0x10, State: Stopped, Win32ExitCode: ExitServiceSpecific, ServiceSpecificExitCode: 1603, CheckPoint: 2, WaitHint: 3 * time.Second}},
	}
	valid := encodeEnum(two)
	nullNames := make([]byte, enumEntrySize)
	unterminated := append(encodeEnum(two[:1])[:enumEntrySize], 'a', 0)
	binary.LittleEndian.PutUint32(unterminated[0:], enumEntrySize)
	binary.LittleEndian.PutUint32(unterminated[4:], enumEntrySize)
	outside := encodeEnum(two[:1])
	binary.LittleEndian.PutUint32(outside[4:], uint32(len(outside)))
	tests := []struct {
		name    string
		buf     []byte
		count   uint32
		want    []ServiceEntry
		wantErr string
	}{
		{"two entries", valid, 2, two, ""},
		{"fewer than in the buffer", valid, 1, two[:1], ""},
		{"none", nil, 0, []ServiceEntry{}, ""},
		{"null string pointers", nullNames, 1, []ServiceEntry{{}}, ""},
		{"count beyond the buffer", valid[:enumEntrySize+3], 2, nil, "do not fit"},
		{"huge count", valid, 0xFFFFFFFF, nil, "do not fit"},
		{"unterminated string", unterminated, 1, nil, "not terminated"},
		{"offset outside", outside, 1, nil, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnumServices(tt.buf, tt.count)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseEnumServices(f *testing.F) {
	f.Add(encodeEnum([]ServiceEntry{{Name: "Spooler", DisplayName: "Print Spooler", Status: Status{State: Running}}}), uint32(1))
	f.Add(encodeEnum([]ServiceEntry{{Name: "a"}, {Name: "b", DisplayName: "\U0001F600"}}), uint32(2))
	f.Add([]byte{}, uint32(0))
	f.Add(make([]byte, enumEntrySize), uint32(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, count uint32) {
		got, err := parseEnumServices(b, count)
		if err != nil {
			return
		}
		require.Len(t, got, int(count))
		// What parsed re-encodes to a buffer that parses the same
		// (names that held unpaired surrogates come back as U+FFFD both
		// times).
		again, err := parseEnumServices(encodeEnum(got), count)
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
}

func statusProcessBytes(v ...uint32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

func TestParseStatusProcess(t *testing.T) {
	tests := []struct {
		name    string
		buf     []byte
		want    Status
		wantErr bool
	}{
		{"running", statusProcessBytes(0x10, 4, 1, 0, 0, 0, 0, 4242, 0), Status{Type: 0x10, State: Running, ControlsAccepted: AcceptStop, HasPID: true, PID: 4242}, false},
		{"stopped with msiexec's code", statusProcessBytes(0x10, 1, 0, 1066, 1603, 0, 0, 0, 1),
			Status{Type: 0x10, State: Stopped, Win32ExitCode: 1066, ServiceSpecificExitCode: 1603, HasPID: true, Flags: 1}, false},
		{"pending with hint", statusProcessBytes(0x10, 2, 0, 0, 0, 3, 2500, 7, 0),
			Status{Type: 0x10, State: StartPending, CheckPoint: 3, WaitHint: 2500 * time.Millisecond, HasPID: true, PID: 7}, false},
		{"trailing bytes ignored", append(statusProcessBytes(0x10, 4, 0, 0, 0, 0, 0, 1, 0), 9, 9), Status{Type: 0x10, State: Running, HasPID: true, PID: 1}, false},
		{"short", statusProcessBytes(0x10, 4, 0, 0, 0, 0, 0, 1), Status{}, true},
		{"empty", nil, Status{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusProcess(tt.buf)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseStatusProcess(f *testing.F) {
	f.Add(statusProcessBytes(0x10, 4, 1, 0, 0, 0, 0, 4242, 0))
	f.Add(statusProcessBytes(0x10, 1, 0, 1066, 1603, 0, 0, 0, 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStatusProcess(b)
		if len(b) < statusProcessSize {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		assert.True(t, st.HasPID)
		assert.Equal(t, binary.LittleEndian.Uint32(b[4:]), uint32(st.State))
		assert.Equal(t, binary.LittleEndian.Uint32(b[28:]), st.PID)
	})
}

func TestStatusHelpers(t *testing.T) {
	tests := []struct {
		st       Status
		exit     uint32
		accepts  bool
		pending  bool
		stateStr string
	}{
		{Status{State: Stopped, Win32ExitCode: ExitServiceSpecific, ServiceSpecificExitCode: 3010}, 3010, false, false, "STOPPED"},
		{Status{State: Stopped, Win32ExitCode: ExitNeverStarted}, 1077, false, false, "STOPPED"},
		{Status{State: Running, ControlsAccepted: AcceptStop | AcceptShutdown}, 0, true, false, "RUNNING"},
		{Status{State: StartPending}, 0, false, true, "START_PENDING"},
		{Status{State: StopPending, ControlsAccepted: AcceptShutdown}, 0, false, true, "STOP_PENDING"},
		{Status{State: Paused}, 0, false, false, "PAUSED"},
		{Status{State: State(42)}, 0, false, false, "State(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.stateStr, func(t *testing.T) {
			assert.Equal(t, tt.exit, tt.st.ExitCode())
			assert.Equal(t, tt.accepts, tt.st.Accepts(AcceptStop))
			assert.Equal(t, tt.pending, tt.st.State.Pending())
			assert.Equal(t, tt.stateStr, tt.st.State.String())
		})
	}
	assert.Equal(t, "DEMAND_START", DemandStart.String())
	assert.Equal(t, "AUTO_START", AutoStart.String())
	assert.Equal(t, "StartType(9)", StartType(9).String())
	assert.Equal(t, "none", RPCAuthNone.String())
	assert.Equal(t, "packet privacy", RPCAuthPrivacy.String())
	assert.Equal(t, "packet integrity", RPCAuthIntegrity.String())
}

func TestNextInterval(t *testing.T) {
	tests := []struct {
		name string
		cur  time.Duration
		st   Status
		want time.Duration
	}{
		{"doubles", 50 * time.Millisecond, Status{State: Running}, 100 * time.Millisecond},
		{"capped", 800 * time.Millisecond, Status{State: Running}, time.Second},
		{"wait hint stretches a pending wait", 50 * time.Millisecond, Status{State: StartPending, WaitHint: 5 * time.Second}, 500 * time.Millisecond},
		{"wait hint still capped", 50 * time.Millisecond, Status{State: StopPending, WaitHint: time.Minute}, time.Second},
		{"small hint does not shrink", 400 * time.Millisecond, Status{State: StopPending, WaitHint: time.Second}, 800 * time.Millisecond},
		{"hint ignored when not pending", 50 * time.Millisecond, Status{State: Running, WaitHint: time.Minute}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, nextInterval(tt.cur, time.Second, tt.st))
		})
	}
	o := WaitOptions{}.withDefaults()
	assert.Equal(t, DefaultPollInitial, o.Initial)
	assert.Equal(t, DefaultPollMax, o.Max)
	o = WaitOptions{Initial: 5 * time.Second, Max: time.Second}.withDefaults()
	assert.Equal(t, time.Second, o.Initial)
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	assert.Equal(t, DefaultPort, c.Port)
	assert.Equal(t, DefaultConnectTimeout, c.ConnectTimeout)
	assert.Equal(t, DefaultRequestTimeout, c.RequestTimeout)
	assert.Equal(t, DefaultMaxRedials, c.MaxRedials)
	assert.NotNil(t, c.Resolver)
	assert.NotNil(t, c.Dial)
	assert.Equal(t, 0, Config{MaxRedials: -1}.withDefaults().MaxRedials)
	assert.Equal(t, 7, Config{MaxRedials: 7, Port: 4445}.withDefaults().MaxRedials)
	assert.Equal(t, 4445, Config{Port: 4445}.withDefaults().Port)
}
