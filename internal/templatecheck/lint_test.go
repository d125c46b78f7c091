package templatecheck

import (
	"context"
	"os/exec"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// cfn-lint, with the SAM translator it brings, finds nothing in the
// template (exit 0; 2 means errors, 4 warnings).
func TestCfnLint(t *testing.T) {
	testproc.SkipShort(t, "cfn-lint")
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		testproc.Missing(t, "cfn-lint not found on PATH", installSAM)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, lint, templatePath(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
