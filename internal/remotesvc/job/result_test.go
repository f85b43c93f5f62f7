package job

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeResult(t *testing.T) {
	r, err := DecodeResult([]byte("nxsvc-result 1\nid=dep-1\ncode=1603\noutcome=done\nmsi=1603\nerror=\n"))
	require.NoError(t, err)
	assert.Equal(t, Result{ID: "dep-1", Code: 1603, Outcome: OutcomeDone, MSI: 1603, HasMSI: true}, r)

	r, err = DecodeResult([]byte("nxsvc-result 1\nid=\ncode=1314390017\noutcome=bad-job\nerror=job file: bad magic\n"))
	require.NoError(t, err)
	assert.Equal(t, CodeBadJob, r.Code)
	assert.False(t, r.HasMSI)
	assert.Equal(t, "job file: bad magic", r.Error)

	for _, bad := range []string{
		"", "nxsvc-result 2\ncode=0\noutcome=done\n", "nxsvc-result 1\ncode=0\noutcome=done",
		"nxsvc-result 1\ncode=x\noutcome=done\n", "nxsvc-result 1\noutcome=done\n", "nxsvc-result 1\ncode=0\n",
		"nxsvc-result 1\ncode=0\ncode=1\noutcome=done\n", "nxsvc-result 1\ncode=0\noutcome=done\nmsi=-1\n",
		"nxsvc-result 1\ncode=4294967296\noutcome=done\n", "nxsvc-result 1\nnoequals\n", "nxsvc-result 1\n\xff=1\n",
	} {
		_, err := DecodeResult([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	_, err = DecodeResult(make([]byte, MaxResultSize+1))
	assert.Error(t, err)
}

func TestDecodeProgress(t *testing.T) {
	p, err := DecodeProgress([]byte("nxsvc-progress 1\nseq=7\npercent=42\nphase=execute\naction=InstallFiles\n"))
	require.NoError(t, err)
	assert.Equal(t, Progress{Seq: 7, Percent: 42, Phase: "execute", Action: "InstallFiles"}, p)
	p, err = DecodeProgress([]byte("nxsvc-progress 1\nseq=1\npercent=-1\nphase=script\naction=\n"))
	require.NoError(t, err)
	assert.Equal(t, -1, p.Percent)
	for _, bad := range []string{
		"nxsvc-progress 1\nseq=1\npercent=101\n", "nxsvc-progress 1\nseq=1\npercent=-2\n", "nxsvc-progress 1\nseq=1\n",
		"nxsvc-progress 1\npercent=5\n", "nxsvc-progress 1\nseq=1\npercent=5", "nxsvc-result 1\nseq=1\npercent=5\n",
	} {
		_, err := DecodeProgress([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func TestCodes(t *testing.T) {
	for _, c := range []uint32{CodeBadJob, CodeSetupFailed, CodeTimeout, CodeStopped, CodeBadPackage} {
		assert.True(t, IsServiceCode(c))
		assert.NotEmpty(t, CodeName(c))
	}
	for _, c := range []uint32{0, 1602, 1603, 3010, 0xC0000005, CodeBase - 1, CodeLast + 1} {
		assert.False(t, IsServiceCode(c), c)
		assert.Empty(t, CodeName(c))
	}
	assert.Equal(t, uint32(0x4E580001), CodeBadJob)
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte("nxsvc-result 1\nid=dep-1\ncode=1603\noutcome=done\nmsi=1603\nerror=\n"))
	f.Add([]byte("nxsvc-progress 1\nseq=7\npercent=42\nphase=execute\naction=InstallFiles\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeResult(b); err == nil {
			assert.NotEmpty(t, r.Outcome)
		}
		if p, err := DecodeProgress(b); err == nil {
			assert.True(t, p.Percent >= -1 && p.Percent <= 100)
		}
	})
}

func FuzzDecode(f *testing.F) {
	keep := validJob()
	keep.KeepLog = true
	for _, j := range []Job{validJob(), keep, {ID: "u", Operation: Uninstall, ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", Timeout: 1}} {
		b, err := j.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Decode(b)
		if err != nil {
			return
		}
		// A job that decodes encodes back to the same bytes.
		again, err := j.Encode()
		require.NoError(t, err)
		back, err := Decode(again)
		require.NoError(t, err)
		assert.Equal(t, j, back)
	})
}
