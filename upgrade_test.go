package deployer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/winreg"
)

// TestWithMinorUpgrade checks the properties a registry-found older
// version adds to the job: REINSTALL=ALL REINSTALLMODE=vomus after the
// caller's, unless the caller sets either (case-sensitive, as Windows
// Installer's names are), and never into the caller's slice.
func TestWithMinorUpgrade(t *testing.T) {
	server := job.Property{Name: "SERVER", Value: "collector.example.test"}
	key := job.Property{Name: "TENANT_KEY", Value: "s3cr3t", Secret: true}
	tests := []struct {
		name string
		in   []job.Property
		want []job.Property
	}{
		{"none", nil, minorUpgradeProperties},
		{"after the caller's", []job.Property{server, key}, append([]job.Property{server, key}, minorUpgradeProperties...)},
		{"the caller's REINSTALL", []job.Property{{Name: "REINSTALL", Value: "Core"}}, []job.Property{{Name: "REINSTALL", Value: "Core"}}},
		{"the caller's REINSTALLMODE", []job.Property{{Name: "REINSTALLMODE", Value: "amus"}}, []job.Property{{Name: "REINSTALLMODE", Value: "amus"}}},
		{"a private property of another case", []job.Property{{Name: "Reinstall", Value: "x"}},
			append([]job.Property{{Name: "Reinstall", Value: "x"}}, minorUpgradeProperties...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := make([]job.Property, len(tc.in), len(tc.in)+4)
			copy(in, tc.in)
			assert.Equal(t, tc.want, withMinorUpgrade(in))
			assert.Equal(t, append([]job.Property{}, tc.in...), in[:len(tc.in)], "the caller's properties are unchanged")
			assert.Empty(t, in[:cap(in)][len(in)].Name, "nothing written past the caller's slice")
		})
	}
}

// TestReproMinorUpgrade checks that the command reproducing a failed
// minor upgrade shows the properties the Engine added with their values,
// and the caller's with placeholders only.
func TestReproMinorUpgrade(t *testing.T) {
	props := []msi.Property{{Name: "TENANT_KEY", Value: "s3cr3t"}}
	for _, upgraded := range []bool{false, true} {
		err := withRepro(derrors.FromMSIExit("host1", 1638, ""), Package{Path: "/pkgs/ok.msi"}, "", props, upgraded)
		e, ok := derrors.As(err)
		require.True(t, ok)
		assert.NotContains(t, e.Repro, "s3cr3t")
		assert.Contains(t, e.Repro, "TENANT_KEY=")
		assert.Equal(t, upgraded, strings.Contains(e.Repro, "REINSTALL=ALL REINSTALLMODE=vomus"), "%q", e.Repro)
	}
}

// The installed check looks for a package's product only where Windows
// Installer can have recorded it: a 64-bit package's in the native view, a
// 32-bit one's under WOW6432Node first (64-bit Windows) and then native
// (32-bit Windows); an unknown platform in both.
func TestProductViews(t *testing.T) {
	for _, tc := range []struct {
		platform string
		want     []winreg.View
	}{
		{"x64", []winreg.View{winreg.Native}},
		{"Arm64", []winreg.View{winreg.Native}},
		{"Intel64", []winreg.View{winreg.Native}},
		{"Intel", []winreg.View{winreg.WOW64, winreg.Native}},
		{"Arm", []winreg.View{winreg.WOW64, winreg.Native}},
		{"", []winreg.View{winreg.Native, winreg.WOW64}},
		{"Alpha", []winreg.View{winreg.Native, winreg.WOW64}},
	} {
		assert.Equal(t, tc.want, productViews(tc.platform), "%q", tc.platform)
	}
}
