package scm

import (
	"errors"
	"fmt"
)

// Errno is a Win32 error code returned by a service control manager call,
// exactly as the RPC method would return it on the wire.
type Errno uint32

// Win32 error codes produced by the service control manager ([MS-ERREF] 2.2).
const (
	ErrorFileNotFound             Errno = 2
	ErrorAccessDenied             Errno = 5
	ErrorInvalidHandle            Errno = 6
	ErrorInvalidParameter         Errno = 87
	ErrorInsufficientBuffer       Errno = 122
	ErrorInvalidName              Errno = 123
	ErrorInvalidLevel             Errno = 124
	ErrorVirusInfected            Errno = 225
	ErrorMoreData                 Errno = 234
	ErrorInvalidServiceControl    Errno = 1052
	ErrorServiceRequestTimeout    Errno = 1053
	ErrorServiceAlreadyRunning    Errno = 1056
	ErrorServiceDisabled          Errno = 1058
	ErrorServiceDoesNotExist      Errno = 1060
	ErrorServiceCannotAcceptCtrl  Errno = 1061
	ErrorServiceNotActive         Errno = 1062
	ErrorDatabaseDoesNotExist     Errno = 1065
	ErrorServiceDependencyFail    Errno = 1068
	ErrorServiceSpecificError     Errno = 1066
	ErrorProcessAborted           Errno = 1067
	ErrorServiceMarkedForDelete   Errno = 1072
	ErrorServiceExists            Errno = 1073
	ErrorServiceNeverStarted      Errno = 1077
	ErrorDuplicateServiceName     Errno = 1078
	ErrorShutdownInProgress       Errno = 1115
	ErrorInstallUserExit          Errno = 1602
	ErrorInstallPackageOpenFailed Errno = 1619
)

var errnoNames = map[Errno]string{
	ErrorFileNotFound:            "ERROR_FILE_NOT_FOUND",
	ErrorAccessDenied:            "ERROR_ACCESS_DENIED",
	ErrorInvalidHandle:           "ERROR_INVALID_HANDLE",
	ErrorInvalidParameter:        "ERROR_INVALID_PARAMETER",
	ErrorInsufficientBuffer:      "ERROR_INSUFFICIENT_BUFFER",
	ErrorInvalidName:             "ERROR_INVALID_NAME",
	ErrorInvalidLevel:            "ERROR_INVALID_LEVEL",
	ErrorMoreData:                "ERROR_MORE_DATA",
	ErrorInvalidServiceControl:   "ERROR_INVALID_SERVICE_CONTROL",
	ErrorServiceRequestTimeout:   "ERROR_SERVICE_REQUEST_TIMEOUT",
	ErrorServiceAlreadyRunning:   "ERROR_SERVICE_ALREADY_RUNNING",
	ErrorServiceDisabled:         "ERROR_SERVICE_DISABLED",
	ErrorServiceDoesNotExist:     "ERROR_SERVICE_DOES_NOT_EXIST",
	ErrorServiceCannotAcceptCtrl: "ERROR_SERVICE_CANNOT_ACCEPT_CTRL",
	ErrorServiceNotActive:        "ERROR_SERVICE_NOT_ACTIVE",
	ErrorDatabaseDoesNotExist:    "ERROR_DATABASE_DOES_NOT_EXIST",
	ErrorServiceSpecificError:    "ERROR_SERVICE_SPECIFIC_ERROR",
	ErrorProcessAborted:          "ERROR_PROCESS_ABORTED",
	ErrorServiceMarkedForDelete:  "ERROR_SERVICE_MARKED_FOR_DELETE",
	ErrorServiceExists:           "ERROR_SERVICE_EXISTS",
	ErrorServiceNeverStarted:     "ERROR_SERVICE_NEVER_STARTED",
	ErrorVirusInfected:           "ERROR_VIRUS_INFECTED",
	ErrorDuplicateServiceName:    "ERROR_DUPLICATE_SERVICE_NAME",
	ErrorShutdownInProgress:      "ERROR_SHUTDOWN_IN_PROGRESS",
}

// Error implements error.
func (e Errno) Error() string {
	if n, ok := errnoNames[e]; ok {
		return fmt.Sprintf("scm: %s (%d)", n, uint32(e))
	}
	return fmt.Sprintf("scm: win32 error %d", uint32(e))
}

// Code returns the Win32 code carried by err: 0 for nil, the Errno found
// with errors.As, or ERROR_INVALID_PARAMETER for any other error.
func Code(err error) uint32 {
	if err == nil {
		return 0
	}
	var e Errno
	if errors.As(err, &e) {
		return uint32(e)
	}
	return uint32(ErrorInvalidParameter)
}
