package errors_test

import (
	"errors"
	"fmt"

	smb2 "github.com/oiweiwei/go-smb2.fork"

	derrors "github.com/nxdeploy/deployer/errors"
)

func ExampleWrap() {
	// A tree connect to ADMIN$ answered STATUS_ACCESS_DENIED after a good logon.
	err := derrors.Wrap("pc-0042", derrors.StepTreeConnect, &smb2.ResponseError{Code: 0xC0000022})

	fmt.Println(errors.Is(err, derrors.SharedAccessFailure))
	fmt.Println(err.Type())
	fmt.Println(err.Message())
	fmt.Println(err.Reason)
	fmt.Println(err.Code)
	// Output:
	// true
	// Share error or process launch error on the target computer
	// shared access failure
	// ADMIN$ access denied
	// NTSTATUS 0xC0000022 STATUS_ACCESS_DENIED
}

func ExampleFromMSIExit() {
	for _, code := range []uint32{0, 3010, 1618, 1603} {
		err := derrors.FromMSIExit("pc-0042", code, "")
		if err == nil {
			fmt.Println(code, "installed")
			continue
		}
		fmt.Println(code, err.Message(), "|", derrors.Retry(err))
	}
	// Output:
	// 0 installed
	// 3010 successful installation(reboot needed) | no retry
	// 1618 MSI error (1618) | retry with backoff
	// 1603 MSI error (1603) | no retry
}
