package lapstest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/laps"
)

func TestWindowsEncrypted(t *testing.T) {
	attr, keys, err := WindowsEncrypted()
	require.NoError(t, err)
	c, err := laps.Read(context.Background(), "PC1", laps.Attributes{laps.AttrEncryptedPassword: {attr}}, keys)
	require.NoError(t, err)
	assert.Equal(t, laps.Encrypted, c.Source)
	assert.Equal(t, WindowsAccount, c.Account)
	assert.Equal(t, WindowsPassword, c.Password.Reveal())
}
