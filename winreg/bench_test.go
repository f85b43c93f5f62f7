package winreg_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/winreg"
)

// BenchmarkSambaProduct looks a product up (both views) and opens the
// registry (Remote Registry check over svcctl, then the winreg bind) over
// one SMB session to Samba in a namespace: the cost per host of "what does
// it already have".
func BenchmarkSambaProduct(b *testing.B) {
	p := startSambaB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sess, err := smb.Dial(ctx, p.s.Addr.String(), smb.Config{
		Credentials: smb.Credentials{User: p.s.AdminUser, Password: p.s.AdminPassword}, Dial: p.n.DialContext,
	}, nil)
	require.NoError(b, err)
	defer sess.Close()
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			c, err := winreg.Open(ctx, "reg1", sess.Pipes(), winreg.Config{})
			require.NoError(b, err)
			require.NoError(b, c.Close())
		}
	})
	c, err := winreg.Open(ctx, "reg1", sess.Pipes(), winreg.Config{})
	require.NoError(b, err)
	defer c.Close()
	b.Run("product", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Product(ctx, agentCode); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("product absent", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Product(ctx, "{00000000-0000-0000-0000-000000000001}"); err == nil {
				b.Fatal("found")
			}
		}
	})
}
