package deployer

import (
	"testing"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	lsat "github.com/oiweiwei/go-msrpc/msrpc/lsat/lsarpc/v0"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUserRID reads LsarLookupNames answers as Windows gives them: a local
// user's RID; a BUILTIN alias, a well-known group, an unmapped name or a
// malformed answer are no local user.
func TestUserRID(t *testing.T) {
	sid := func(s string) *dtyp.SID {
		v, err := dtyp.ParseSID(s)
		require.NoError(t, err)
		return v
	}
	domains := &lsat.ReferencedDomainList{Entries: 2, Domains: []*lsat.TrustInformation{
		{Name: &dtyp.UnicodeString{Buffer: "PC1"}, SID: sid("S-1-5-21-1-2-3")},
		{Name: &dtyp.UnicodeString{Buffer: "BUILTIN"}, SID: sid("S-1-5-32")},
	}}
	answer := func(use lsat.SIDNameUse, rid uint32, idx int32) *lsat.LookupNamesResponse {
		return &lsat.LookupNamesResponse{ReferencedDomains: domains, MappedCount: 1,
			TranslatedSIDs: &lsat.TranslatedSIDs{SIDs: []*lsat.TranslatedSID{{Use: use, RelativeID: rid, DomainIndex: idx}}}}
	}
	tests := []struct {
		name string
		resp *lsat.LookupNamesResponse
		rid  uint32
		ok   bool
	}{
		{"built-in Administrator, any name", answer(lsat.SIDNameUseTypeUser, 500, 0), 500, true},
		{"another local user", answer(lsat.SIDNameUseTypeUser, 1001, 0), 1001, true},
		{"a BUILTIN alias", answer(lsat.SIDNameUseTypeAlias, 544, 1), 0, false},
		{"a user of no account domain", answer(lsat.SIDNameUseTypeUser, 544, 1), 0, false},
		{"not mapped", answer(lsat.SIDNameUseTypeUnknown, 0, -1), 0, false},
		{"domain index out of range", answer(lsat.SIDNameUseTypeUser, 500, 7), 0, false},
		{"no translations", &lsat.LookupNamesResponse{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rid, err := userRID(tc.resp)
			if !tc.ok {
				assert.ErrorIs(t, err, errNotLocalUser)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.rid, rid)
		})
	}
}
