package templatecheck

import (
	"os"
	"os/exec"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// TestMain fails the package once, in one line, when cfn-lint or the SAM
// translator is missing (unless -short), instead of once per test.
func TestMain(m *testing.M) {
	testproc.Require(func() string {
		if _, err := exec.LookPath("cfn-lint"); err != nil {
			return "cfn-lint not found on PATH"
		}
		if err := exec.Command("python3", "-c", "import samtranslator").Run(); err != nil {
			return "python3 cannot import samtranslator (aws-sam-translator)"
		}
		return ""
	}, installSAM)
	os.Exit(m.Run())
}
