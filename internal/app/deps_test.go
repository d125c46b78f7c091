package app

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Each Lambda binary links only its own side: the monitor not the bot (its
// phrase tables and regexps), the webhook not the SQS client.
func TestBinariesLinkOnlyTheirSide(t *testing.T) {
	const module = "github.com/quotabot/chatwork-quota-bot"
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	monitor := deps(module + "/cmd/monitor")
	if !slices.Contains(monitor, module+"/monitor") {
		t.Fatalf("go list -deps ./cmd/monitor does not list the monitor: %v", monitor)
	}
	for _, p := range monitor {
		if p == module+"/bot" || strings.HasPrefix(p, module+"/bot/") {
			t.Errorf("the monitor binary links %s", p)
		}
	}
	webhook := deps(module + "/cmd/webhook")
	if !slices.Contains(webhook, module+"/bot") {
		t.Fatalf("go list -deps ./cmd/webhook does not list the bot: %v", webhook)
	}
	if slices.Contains(webhook, "github.com/aws/aws-sdk-go-v2/service/sqs") {
		t.Error("the webhook binary links the SQS client")
	}
}
