package rpc

import (
	"context"
	"errors"

	"github.com/oiweiwei/go-msrpc/ndr"
)

// errNDRBound reports a conformance count larger than the stub data.
var errNDRBound = errors.New("rpc: NDR count exceeds the stub data")

// boundedReader rejects NDR counts (max_count, offset, actual_count) larger
// than the stub itself plus countSlack (a conformant-varying array may
// legitimately declare a max_count above what is sent). go-msrpc's generated stubs allocate an array of the
// declared count before reading it, so one small hostile PDU could
// otherwise make the server allocate gigabytes. Deferred referents and
// nested unmarshalling go through the wrapper too.
type boundedReader struct {
	ndr.Reader
	limit uint64
}

// countSlack is how far a count may exceed the stub length.
const countSlack = 64 << 10

func newBoundedReader(r ndr.Reader, stubLen int) *boundedReader {
	return &boundedReader{Reader: r, limit: uint64(stubLen) + countSlack}
}

// ReadSize reads a count and checks it against the stub length.
func (r *boundedReader) ReadSize(sz *uint64) error {
	if err := r.Reader.ReadSize(sz); err != nil {
		return err
	}
	if *sz > r.limit {
		return errNDRBound
	}
	return nil
}

// ReadPointer reads a pointer whose referent will be decoded through r.
func (r *boundedReader) ReadPointer(p ndr.Pointer, set func(any), us ...ndr.Unmarshaler) error {
	return r.Reader.ReadPointer(p, set, r.wrap(us)...)
}

// Unmarshal decodes u through r.
func (r *boundedReader) Unmarshal(ctx context.Context, u ndr.Unmarshaler) error {
	return r.Reader.Unmarshal(ctx, boundedUnmarshaler{u: u, r: r})
}

func (r *boundedReader) wrap(us []ndr.Unmarshaler) []ndr.Unmarshaler {
	out := make([]ndr.Unmarshaler, len(us))
	for i, u := range us {
		out[i] = boundedUnmarshaler{u: u, r: r}
	}
	return out
}

// boundedUnmarshaler runs u against the bounded reader whatever reader the
// NDR engine hands it.
type boundedUnmarshaler struct {
	u ndr.Unmarshaler
	r *boundedReader
}

func (b boundedUnmarshaler) UnmarshalNDR(ctx context.Context, _ ndr.Reader) error {
	return b.u.UnmarshalNDR(ctx, b.r)
}
