package scm

// HostPath maps a Windows path under the host's system root (C:\Windows,
// the directory behind ADMIN$) to the host directory that stands for it,
// resolving existing components case-insensitively; false for a path
// outside the system root.
func (m *Manager) HostPath(win string) (string, bool) { return m.mapper.HostPath(win) }
