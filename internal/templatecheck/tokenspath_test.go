package templatecheck

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

// Paths TokensPath must accept, and must refuse: it starts and ends with a
// slash and names at least one level (never the whole account's "/").
var (
	goodPaths = []string{"/quotabot/tokens/", "/a/", "/team_1/bots.v2/x-y/"}
	badPaths  = []string{"/quotabot/tokens", "quotabot/tokens/", "/", "//", "/a//b/", "/a/*/", "/a|b/", "/quota bot/", ""}
)

func TestTokensPathParameter(t *testing.T) {
	cfn := expand(t)
	p, _ := cfn["Parameters"].(map[string]any)["TokensPath"].(map[string]any)
	if p["Default"] != "/quotabot/tokens/" {
		t.Errorf("TokensPath default %v, want /quotabot/tokens/", p["Default"])
	}
	pattern, _ := p["AllowedPattern"].(string)
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("TokensPath AllowedPattern %q: %v", pattern, err)
	}
	for _, path := range goodPaths {
		if !re.MatchString(path) {
			t.Errorf("TokensPath refuses %q", path)
		}
	}
	for _, path := range badPaths {
		if re.MatchString(path) {
			t.Errorf("TokensPath accepts %q", path)
		}
	}
}

// pathRequest records the request the registry makes.
type pathRequest struct{ in *ssm.GetParametersByPathInput }

func (p *pathRequest) GetParametersByPath(_ context.Context, in *ssm.GetParametersByPathInput, _ ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	p.in = in
	return &ssm.GetParametersByPathOutput{}, nil
}

// requestPath is the Path of the GetParametersByPath request the functions
// make when QUOTA_TOKENS_PATH is tokensPath: the settings and the registry
// they wire, run against a recorder.
func requestPath(t *testing.T, tokensPath string) string {
	t.Helper()
	s, err := app.Load(func(name string) string {
		if name == "QUOTA_TOKENS_PATH" {
			return tokensPath
		}
		return ""
	})
	if err != nil {
		t.Fatalf("QUOTA_TOKENS_PATH=%s: %v", tokensPath, err)
	}
	var rec pathRequest
	if _, err := ssmparam.NewRegistry(&rec, s.TokensPath, nil).List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.in == nil || rec.in.Path == nil {
		t.Fatalf("QUOTA_TOKENS_PATH=%s: the registry made no request", tokensPath)
	}
	if rec.in.Recursive != nil && *rec.in.Recursive {
		t.Errorf("the registry lists %s recursively; the grant denies that", *rec.in.Path)
	}
	return *rec.in.Path
}

// checkTokensPathGrant checks an Allow of ssm:GetParametersByPath:
// GetParametersByPath is authorized against the path the request names,
// not against the parameters it returns (AWS's "How Parameter Store
// authorizes parameter retrieval"), so the resource must be exactly that
// path's ARN, for every TokensPath: no wildcard, no other path.
func checkTokensPathGrant(t *testing.T, cfn map[string]any, resource any) {
	t.Helper()
	for _, path := range goodPaths {
		vals := values(t, cfn, map[string]string{"TokensPath": path})
		got, _ := resolve(t, cfn, resource, vals).(string)
		want := "arn:" + vals["AWS::Partition"] + ":ssm:" + vals["AWS::Region"] + ":" + vals["AWS::AccountId"] + ":parameter" + requestPath(t, path)
		if got != want {
			t.Errorf("TokensPath %s: GetParametersByPath is allowed on %q; the request names %q", path, got, want)
		}
	}
}

// checkNoRecursion reports whether a Deny statement is the one expected:
// ssm:GetParametersByPath with Recursive on the tokens path, which keeps
// the grant to the parameters directly under it.
func checkNoRecursion(t *testing.T, cfn map[string]any, s map[string]any) bool {
	t.Helper()
	res := list(s["Resource"])
	if s["Effect"] != "Deny" || js(s["Action"]) != `"ssm:GetParametersByPath"` || len(res) != 1 ||
		js(s["Condition"]) != `{"StringEquals":{"ssm:Recursive":"true"}}` {
		return false
	}
	for _, path := range goodPaths {
		got, _ := resolve(t, cfn, res[0], values(t, cfn, map[string]string{"TokensPath": path})).(string)
		if !strings.HasSuffix(got, ":parameter"+requestPath(t, path)) {
			return false
		}
	}
	return true
}
