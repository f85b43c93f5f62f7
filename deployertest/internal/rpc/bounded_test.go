package rpc

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileCountsDoNotAllocate sends OpenSCManagerW stubs whose string
// counts claim up to 4 Gi characters: the server answers nca_s_fault_ndr
// without allocating them (go-msrpc's stubs would allocate 2 bytes per
// claimed character).
func TestHostileCountsDoNotAllocate(t *testing.T) {
	mgr := scm.New(scm.Options{AdminDir: t.TempDir()})
	t.Cleanup(func() { _ = mgr.Close() })
	p := openPipe(t, NewOpener(Config{SCM: mgr}), "svcctl", pipe.Caller{Admin: true})
	p.roundTrip(bindPDU(ptypeBind, 1, 4280, 4280, []pduCtx{
		{0, svcctlSyntax, []syntaxID{ndr20}}, {1, svcctlSyntax, []syntaxID{ndr64}}}, nil))
	for i, n := range []uint32{0x10000000, 0xFFFFFFFF} {
		stub := binary.LittleEndian.AppendUint32(nil, 0x20000)
		stub = binary.LittleEndian.AppendUint32(stub, n)
		stub = binary.LittleEndian.AppendUint32(stub, 0)
		stub = binary.LittleEndian.AppendUint32(stub, n)
		stub = append(stub, make([]byte, 64)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, fault := p.call(uint32(2+i), 0, 15, stub, 4096)
		runtime.ReadMemStats(&after)
		assert.Equal(t, faultNDR, fault)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "count %#x", n)
	}
	// NDR64: 8-byte counts.
	stub := binary.LittleEndian.AppendUint64(nil, 0x20000)
	for range 3 {
		stub = binary.LittleEndian.AppendUint64(stub, 0x7FFFFFFFFFFFFFFF)
	}
	stub = append(stub, make([]byte, 64)...)
	_, _, fault := p.call(9, 1, 15, stub, 4096)
	require.Equal(t, faultNDR, fault)
}
