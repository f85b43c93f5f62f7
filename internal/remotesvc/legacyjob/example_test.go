package legacyjob_test

import (
	"fmt"
	"time"

	job "github.com/nxdeploy/deployer/internal/remotesvc/legacyjob"
)

// The library builds a job, puts it in the service's binary path with
// --job-b64, and reads the service's exit code (or the result file) back.
func ExampleJob_Args() {
	dir := `C:\Windows\nxdeploy\dep-42\`
	j := job.Job{
		ID:         "dep-42",
		Command:    []string{"msiexec.exe", "/i", dir + "collector.msi", "/qn", "/norestart", "/l*v", dir + "install.log"},
		LogPath:    dir + "install.log",
		ResultPath: dir + "result.json",
		Timeout:    time.Hour,
	}
	args, err := j.Args()
	if err != nil {
		panic(err)
	}
	fmt.Println(args[0])

	back, err := job.DecodeBase64(args[1])
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Timeout, back.Command[0])

	code := uint32(1603) // SERVICE_EXIT_CODE when WIN32_EXIT_CODE is 1066
	fmt.Println(job.IsServiceCode(code), job.IsServiceCode(job.CodeTimeout), job.CodeName(job.CodeTimeout))
	// Output:
	// --job-b64
	// 1h0m0s msiexec.exe
	// false true timeout
}
