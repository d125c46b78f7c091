package app

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Each Lambda binary links only its own side: the monitor not the bot (its
// phrase tables and regexps), the chart renderer, its font or the
// CloudWatch client; the webhook not the SQS client.
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
		switch {
		case p == module+"/bot", strings.HasPrefix(p, module+"/bot/"),
			p == module+"/internal/chart", p == module+"/internal/cwmetrics",
			strings.HasPrefix(p, "golang.org/x/image/"), p == "image/png",
			p == "github.com/aws/aws-sdk-go-v2/service/cloudwatch":
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
	if !slices.Contains(webhook, module+"/internal/chart") || !slices.Contains(webhook, module+"/internal/cwmetrics") {
		t.Error("the webhook binary does not link the charts (internal/chart, internal/cwmetrics): the check above would pass for nothing")
	}
}
