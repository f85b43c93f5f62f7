package native

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
)

// TestSanitizers builds nxsvc's portable C with the host's gcc under
// AddressSanitizer and UndefinedBehaviorSanitizer (any finding aborts) and
// runs it on the fuzz seed jobs, every file of the fuzz corpus in testdata, and
// 20,000 deterministic mutations of them: a malformed or hostile job file
// must get a clear code, never a read or write out of bounds.
func TestSanitizers(t *testing.T) {
	lab.Require(t, "gcc")
	dir := t.TempDir()
	bin := filepath.Join(dir, "sanitize")
	out, err := exec.Command("gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
		"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
		"-I", filepath.Join("..", "csrc"), "-o", bin,
		filepath.Join("testdata", "sanitize.c"), filepath.Join("..", "csrc", "nxjob.c")).CombinedOutput()
	require.NoError(t, err, "%s", out)

	var inputs [][]byte
	for _, j := range seedJobs() {
		b, err := j.Encode()
		require.NoError(t, err)
		inputs = append(inputs, b)
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParse", "*"))
	for _, p := range corpus {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if v, ok := corpusBytes(b); ok {
			inputs = append(inputs, v)
		}
	}
	rng := rand.New(rand.NewPCG(15, 7))
	seeds := len(inputs)
	for i := 0; i < 20000; i++ {
		b := append([]byte(nil), inputs[rng.IntN(seeds)]...)
		for k := rng.IntN(4) + 1; k > 0 && len(b) > 0; k-- {
			switch rng.IntN(4) {
			case 0:
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			case 1:
				b = b[:rng.IntN(len(b))]
			case 2:
				p := 16 + rng.IntN(max(1, len(b)-16))
				if p+4 <= len(b) {
					binary.LittleEndian.PutUint32(b[p:], []uint32{0, 1, 0xFFFF, 0xFFFFFFFF, uint32(len(b))}[rng.IntN(5)])
				}
			default:
				b = append(b, b[rng.IntN(len(b)):]...)
			}
		}
		if len(b) >= 12 && rng.IntN(2) == 0 {
			binary.LittleEndian.PutUint32(b[8:], uint32(len(b))) // keep the length consistent half the time
		}
		inputs = append(inputs, b)
	}
	inputs = append(inputs, make([]byte, job.MaxFileSize), make([]byte, job.MaxFileSize+1))

	var stream bytes.Buffer
	for _, b := range inputs {
		stream.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
		stream.Write(b)
	}
	start := time.Now()
	cmd := exec.Command(bin)
	cmd.Stdin = &stream
	res, err := cmd.CombinedOutput()
	require.NoError(t, err, "sanitizers found a problem:\n%s", res)
	require.True(t, strings.HasSuffix(strings.TrimSpace(string(res)), "inputs"), "%s", res)
	t.Logf("%s in %v (%d from the fuzz corpus)", strings.TrimSpace(string(res)), time.Since(start).Round(time.Millisecond), len(corpus))
}

// corpusBytes reads a Go fuzz corpus file holding one []byte value.
func corpusBytes(file []byte) ([]byte, bool) {
	lines := strings.Split(string(file), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "go test fuzz v1") {
		return nil, false
	}
	v := strings.TrimSpace(lines[1])
	if !strings.HasPrefix(v, "[]byte(") || !strings.HasSuffix(v, ")") {
		return nil, false
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")"))
	if err != nil {
		return nil, false
	}
	return []byte(s), true
}
