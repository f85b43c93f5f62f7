package scm

// Access rights for the SCM database object ([MS-SCMR] 3.1.4).
const (
	SCManagerConnect          uint32 = 0x0001
	SCManagerCreateService    uint32 = 0x0002
	SCManagerEnumerateService uint32 = 0x0004
	SCManagerLock             uint32 = 0x0008
	SCManagerQueryLockStatus  uint32 = 0x0010
	SCManagerModifyBootConfig uint32 = 0x0020
	SCManagerAllAccess        uint32 = 0x000F003F
)

// Access rights for service objects ([MS-SCMR] 3.1.4).
const (
	ServiceQueryConfig         uint32 = 0x0001
	ServiceChangeConfig        uint32 = 0x0002
	ServiceQueryStatus         uint32 = 0x0004
	ServiceEnumerateDependents uint32 = 0x0008
	ServiceStart               uint32 = 0x0010
	ServiceStop                uint32 = 0x0020
	ServicePauseContinue       uint32 = 0x0040
	ServiceInterrogate         uint32 = 0x0080
	ServiceUserDefinedControl  uint32 = 0x0100
	ServiceAllAccess           uint32 = 0x000F01FF
)

// Standard and generic access rights ([MS-DTYP] 2.4.3).
const (
	AccessDelete         uint32 = 0x00010000
	AccessReadControl    uint32 = 0x00020000
	AccessWriteDAC       uint32 = 0x00040000
	AccessWriteOwner     uint32 = 0x00080000
	AccessSystemSecurity uint32 = 0x01000000
	MaximumAllowed       uint32 = 0x02000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000
)

// genericMapping maps generic rights onto object-specific rights.
type genericMapping struct{ read, write, execute, all uint32 }

var (
	scmMapping = genericMapping{
		read:    AccessReadControl | SCManagerEnumerateService | SCManagerQueryLockStatus,
		write:   AccessReadControl | SCManagerCreateService | SCManagerModifyBootConfig,
		execute: AccessReadControl | SCManagerConnect | SCManagerLock,
		all:     SCManagerAllAccess,
	}
	serviceMapping = genericMapping{
		read:    AccessReadControl | ServiceQueryConfig | ServiceQueryStatus | ServiceInterrogate | ServiceEnumerateDependents,
		write:   AccessReadControl | ServiceChangeConfig,
		execute: AccessReadControl | ServiceStart | ServiceStop | ServicePauseContinue | ServiceUserDefinedControl,
		all:     ServiceAllAccess,
	}
)

// Rights the default security descriptors grant to an authenticated user
// without an administrator token.
const (
	userSCMRights     = SCManagerConnect | SCManagerEnumerateService | SCManagerQueryLockStatus | AccessReadControl
	userServiceRights = AccessReadControl | ServiceQueryConfig | ServiceQueryStatus | ServiceEnumerateDependents |
		ServiceInterrogate | ServiceUserDefinedControl
)

// mapGeneric replaces generic rights in desired with the specific rights of m.
func (m genericMapping) mapGeneric(desired uint32) uint32 {
	out := desired &^ (GenericAll | GenericExecute | GenericWrite | GenericRead)
	if desired&GenericRead != 0 {
		out |= m.read
	}
	if desired&GenericWrite != 0 {
		out |= m.write
	}
	if desired&GenericExecute != 0 {
		out |= m.execute
	}
	if desired&GenericAll != 0 {
		out |= m.all
	}
	return out
}

// grant checks desired (after generic mapping) against the rights allowed
// to the caller and returns the granted mask, or ERROR_ACCESS_DENIED.
// MAXIMUM_ALLOWED grants everything allowed.
func grant(m genericMapping, desired, allowed uint32) (uint32, error) {
	want := m.mapGeneric(desired)
	if want&MaximumAllowed != 0 {
		want &^= MaximumAllowed
		if want&^allowed != 0 {
			return 0, ErrorAccessDenied
		}
		return allowed, nil
	}
	if want&AccessSystemSecurity != 0 || want&^allowed != 0 {
		return 0, ErrorAccessDenied
	}
	return want, nil
}
