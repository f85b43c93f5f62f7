package errors

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCauseNamesThePortUsed: the table's texts say "TCP port 445"; an error
// met on another port names that one, in its cause and its solution.
func TestCauseNamesThePortUsed(t *testing.T) {
	for _, tc := range []struct {
		port int
		want string
	}{
		{0, "TCP port 445"},
		{445, "TCP port 445"},
		{1445, "TCP port 1445"},
	} {
		e := &Error{Kind: ConnectionTimeout, Port: tc.port}
		assert.Contains(t, e.Cause(), tc.want)
		assert.Contains(t, e.Solution(), strings.Replace(tc.want, "port ", "", 1))
		if tc.port == 1445 {
			assert.NotContains(t, e.Cause()+e.Solution(), " 445")
			assert.NotContains(t, e.Cause(), "port 445")
		}
	}
	refused := AtPort(New("PC-1", StepConnect, ConnectionRefused, nil), 8445)
	de, _ := As(refused)
	assert.Contains(t, de.Cause(), "TCP port 8445")
	assert.Contains(t, de.Solution(), "(TCP 8445)")
	assert.Nil(t, AtPort(nil, 8445))
}
