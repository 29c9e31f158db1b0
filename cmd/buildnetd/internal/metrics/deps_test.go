package metrics_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryLeavesOutClientGolang checks that buildnetd does not link the
// Prometheus client library, its protobuf model or procfs: their package
// initialisation would add to the start of every CLI command. Tests may
// use them (the text parser).
func TestBinaryLeavesOutClientGolang(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "github.com/musclemap/buildnet/cmd/buildnetd").Output()
	require.NoError(t, err)
	for pkg := range strings.Lines(string(out)) {
		for _, banned := range []string{"github.com/prometheus/client_golang", "github.com/prometheus/client_model", "google.golang.org/protobuf", "github.com/prometheus/procfs"} {
			assert.False(t, strings.HasPrefix(pkg, banned), "buildnetd links %s", strings.TrimSpace(pkg))
		}
	}
}
