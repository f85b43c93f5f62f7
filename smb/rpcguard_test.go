package smb_test

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// replaceRPCResponse replaces the stub of the first DCE/RPC response the
// server sends through a pipe READ with stub (keeping its call id), unsigned:
// the emulated host's srvsvc answers, and a hostile one's reply arrives.
func replaceRPCResponse(stub []byte) func() func([]byte) []byte {
	// The answer to an RPC call comes back in the FSCTL_PIPE_TRANSCEIVE
	// that sent it ([MS-SMB2] 2.2.32: output at OutputOffset).
	const cmdIoctl = 11
	return once(cmdIoctl, 0, func(msg []byte) []byte {
		if len(msg) < 64+48 {
			return nil
		}
		off, n := int(binary.LittleEndian.Uint32(msg[64+32:])), int(binary.LittleEndian.Uint32(msg[64+36:]))
		if off < 64+48 || off+n > len(msg) {
			return nil
		}
		data := msg[off : off+n]
		if len(data) < 24 || data[0] != 5 || data[2] != 2 {
			return nil // not an RPC response
		}
		pdu := make([]byte, 24, 24+len(stub))
		copy(pdu, []byte{5, 0, 2, 3, 0x10, 0, 0, 0})
		binary.LittleEndian.PutUint16(pdu[8:], uint16(24+len(stub)))
		copy(pdu[12:16], data[12:16]) // call id
		binary.LittleEndian.PutUint32(pdu[16:], uint32(len(stub)))
		pdu = append(pdu, stub...)
		body := append([]byte(nil), msg[64:64+48]...)
		binary.LittleEndian.PutUint32(body[32:], 64+48)
		binary.LittleEndian.PutUint32(body[36:], uint32(len(pdu)))
		return append(append(msg[:64:64], body...), pdu...)
	})
}

// hugeStringShareInfo2 is a NetrShareGetInfo level 2 reply whose share name
// declares 0x7FFFFFFF characters: go-msrpc v1.5.2 allocates 4 GiB for it.
func hugeStringShareInfo2() []byte {
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u32(2)          // level
	u32(0x00020000) // SHARE_INFO_2*
	u32(0x00020004) // netname*
	u32(0)          // type
	u32(0)          // remark*
	u32(0)          // permissions
	u32(0xFFFFFFFF) // max uses
	u32(0)          // current uses
	u32(0)          // path*
	u32(0)          // passwd*
	u32(0x7FFFFFFF) // netname: max count
	u32(0)          // offset
	u32(0x7FFFFFFF) // actual count
	b = append(b, "A\x00D\x00M\x00"...)
	return b
}

// hugeShareEnum is a NetrShareEnum level 1 reply whose array declares 2^28
// entries.
func hugeShareEnum() []byte {
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u32(1)          // level
	u32(1)          // union switch
	u32(0x00020000) // container*
	u32(1 << 28)    // entries read
	u32(0x00020004) // buffer*
	u32(1 << 28)    // max count
	u32(0x00020008) // netname*
	u32(0)          // type
	u32(0)          // remark*
	return b
}

// TestRPCReplyCannotMakeUsAllocate proves the RPC reply guard: the srvsvc
// reply from the emulated host's named pipe is replaced, on the way, by one
// whose counts go-msrpc would allocate gigabytes for (4096 MiB and 2048 MiB
// without the guard, and the calls then succeeded); the calls fail with a
// typed error and the heap does not grow.
func TestRPCReplyCannotMakeUsAllocate(t *testing.T) {
	tests := []struct {
		name string
		stub []byte
		call func(context.Context, *smb.Session) error
		want string
	}{
		{"NetrShareGetInfo with a 0x7FFFFFFF-character string", hugeStringShareInfo2(),
			func(ctx context.Context, s *smb.Session) error { _, err := s.SharePath(ctx, "ADMIN$"); return err },
			"declares 2147483647 elements of 2 bytes"},
		{"NetrShareEnum with 2^28 entries", hugeShareEnum(),
			func(ctx context.Context, s *smb.Session) error { _, err := s.ListShares(ctx); return err },
			"declares 268435456 elements of 12 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := deployertest.Start(t)
			ctx := context.Background()
			s, err := smb.Dial(ctx, h.IP, smb.Config{Credentials: smb.Credentials{User: h.User, Password: h.Password},
				Port: h.Port, Label: "HOSTILE", RequestTimeout: 5 * time.Second,
				SigningOptional: true, Encryption: smb.EncryptNever, Dial: dialRewriting(replaceRPCResponse(tt.stub))}, nil)
			require.NoError(t, err)
			defer s.Close()

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err = tt.call(ctx, s)
			runtime.ReadMemStats(&after)

			var e *derrors.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, derrors.StepListShares, e.Step)
			assert.Equal(t, derrors.SharedAccessFailure, e.Kind, "%v", err)
			assert.Equal(t, derrors.ReasonMalformedReply, e.Reason, "%v", err)
			assert.Equal(t, "HOSTILE", e.Host)
			assert.ErrorContains(t, err, tt.want)
			grew := int64(after.TotalAlloc - before.TotalAlloc)
			assert.Less(t, grew, int64(16<<20), "allocated %d MiB for one reply", grew>>20)
			t.Logf("%v; allocated %d KiB during the call", err, grew>>10)

			// The session still works: the guard closed only the pipe.
			admin, err := s.Mount(ctx, "ADMIN$")
			require.NoError(t, err)
			require.NoError(t, admin.Close())
		})
	}
}
