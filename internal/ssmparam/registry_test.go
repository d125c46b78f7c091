package ssmparam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

// logLines collects a logger's JSON lines.
type logLines struct{ bytes.Buffer }

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// countingPath wraps a PathAPI and counts GetParametersByPath calls.
type countingPath struct {
	ssmparam.PathAPI
	calls atomic.Int64
}

func (c *countingPath) GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, opts ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	c.calls.Add(1)
	return c.PathAPI.GetParametersByPath(ctx, in, opts...)
}

func putString(t *testing.T, cfg aws.Config, name, value string) {
	t.Helper()
	_, err := ssm.NewFromConfig(cfg).PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// registryPath returns a fresh path on the shared moto, with a trailing
// slash as the template's default has one.
func registryPath(t *testing.T) (aws.Config, *countingPath, string) {
	t.Helper()
	cfg := awstest.Config(t, awstest.StartMoto(t))
	return cfg, &countingPath{PathAPI: ssm.NewFromConfig(cfg)}, "/" + awstest.UniqueName(t, "quotabot/") + "/tokens/"
}

func TestRegistrySkipsBadEntries(t *testing.T) {
	cfg, api, path := registryPath(t)
	long := strings.Repeat("x", 65)
	values := map[string]string{ // parameter (after the path) → value
		"deploy":      "tok-deploy-SECRET1",
		"notify":      "tok-notify-SECRET2\n", // the same token as a-copy once trimmed
		"a-copy":      "tok-notify-SECRET2",
		"zz-copy":     "tok-deploy2-SECRET8",
		"blank":       " \n",
		long:          "tok-long-SECRET3",
		"nested/deep": "tok-nested-SECRET4",
		"Help":        "tok-help-SECRET7",    // a /quota command word
		"DEPLOY":      "tok-deploy2-SECRET8", // deploy but for case: sorts first, so deploy is the one skipped
	}
	for name, v := range values {
		awstest.PutSecureString(t, cfg, path+name, v)
	}
	putString(t, cfg, path+"plain", "tok-plain-SECRET5")
	awstest.PutSecureString(t, cfg, strings.TrimSuffix(path, "/")+"-other/x", "tok-sibling-SECRET6")

	var logs logLines
	got, err := ssmparam.NewRegistry(api, path, logs.logger()).List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sec := ssmtypes.ParameterTypeSecureString
	want := []ssmparam.Entry{
		{"DEPLOY", path + "DEPLOY", "tok-deploy2-SECRET8", sec},
		{"a-copy", path + "a-copy", "tok-notify-SECRET2", sec},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List = %+v\nwant %+v", got, want)
	}

	// One warning per bad entry, naming the parameter; a duplicate names
	// the parameter kept too. The nested one is not listed at all.
	wantWarn := map[string]string{
		path + "blank":   "empty value",
		path + "notify":  "same token as another parameter",
		path + "zz-copy": "same token as another parameter",
		path + "plain":   "a String parameter: tokens must be SecureString",
		path + long:      "is not a usable label",
		path + "Help":    "a word /quota reads as a command",
		path + "deploy":  "differs from another parameter's only in case",
	}
	wantWatched := map[string]string{path + "notify": path + "a-copy", path + "zz-copy": path + "DEPLOY", path + "deploy": path + "DEPLOY"}
	recs := logs.records(t)
	if len(recs) != len(wantWarn) {
		t.Errorf("%d log lines, want %d:\n%s", len(recs), len(wantWarn), logs.String())
	}
	for _, r := range recs {
		p, _ := r["parameter"].(string)
		reason, _ := r["reason"].(string)
		if r["level"] != "WARN" || !strings.Contains(reason, wantWarn[p]) || wantWarn[p] == "" {
			t.Errorf("log line %v: want a warning with %q", r, wantWarn[p])
		}
		if w, _ := r["watched"].(string); w != wantWatched[p] {
			t.Errorf("log line %v: watched %q, want %q", r, w, wantWatched[p])
		}
	}
	if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), "nested") {
		t.Errorf("logs hold a value or the nested parameter:\n%s", logs.String())
	}
	if s := fmt.Sprintf("%v %+v %s", got, got, got[0]); strings.Contains(s, "SECRET") {
		t.Errorf("a printed entry holds its value: %s", s)
	}
}

func TestRegistryPaginates(t *testing.T) {
	cfg, api, path := registryPath(t)
	var want []string
	for i := range 23 { // GetParametersByPath returns at most 10 a page
		label := fmt.Sprintf("bot-%02d", i)
		awstest.PutSecureString(t, cfg, path+label, "token-"+label)
		want = append(want, label)
	}
	got, err := ssmparam.NewRegistry(api, strings.TrimSuffix(path, "/"), nil).List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, e := range got {
		labels = append(labels, e.Label)
		if e.Value != "token-"+e.Label {
			t.Errorf("%s: value of another parameter", e.Label)
		}
	}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("labels = %v\nwant %v", labels, want)
	}
	if n := api.calls.Load(); n != 3 {
		t.Errorf("%d GetParametersByPath calls, want 3 pages", n)
	}
}

func TestRegistryListsAtMost99(t *testing.T) {
	cfg, api, path := registryPath(t)
	for i := range ssmparam.MaxTokens + 1 {
		awstest.PutSecureString(t, cfg, fmt.Sprintf("%sbot-%03d", path, i), fmt.Sprintf("token-%03d", i))
	}
	var logs logLines
	got, err := ssmparam.NewRegistry(api, path, logs.logger()).List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != ssmparam.MaxTokens || got[0].Label != "bot-000" || got[98].Label != "bot-098" {
		t.Fatalf("List gave %d entries, want bot-000 … bot-098", len(got))
	}
	recs := logs.records(t)
	if len(recs) != 1 || recs[0]["level"] != "ERROR" || recs[0]["first_ignored"] != "bot-099" ||
		!strings.Contains(recs[0]["msg"].(string), "too many tokens: 100 under "+path+", at most 99 are watched") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// fakePath answers GetParametersByPath with fixed parameters or an error.
type fakePath struct {
	params []ssmtypes.Parameter
	err    error
	in     *ssm.GetParametersByPathInput
}

func (f *fakePath) GetParametersByPath(_ context.Context, in *ssm.GetParametersByPathInput, _ ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	f.in = in
	return &ssm.GetParametersByPathOutput{Parameters: f.params}, f.err
}

// AWS refuses to store an empty value, and so does moto; a registry must
// still not watch one.
func TestRegistryEmptyValue(t *testing.T) {
	sec := ssmtypes.ParameterTypeSecureString
	api := &fakePath{params: []ssmtypes.Parameter{
		{Name: aws.String("/t/empty"), Value: aws.String(""), Type: sec},
		{Name: aws.String("/t/none"), Type: sec},
		{Name: aws.String("/t/ok"), Value: aws.String(secret), Type: sec},
	}}
	var logs logLines
	got, err := ssmparam.NewRegistry(api, "/t/", logs.logger()).List(t.Context())
	if err != nil || len(got) != 1 || got[0].Label != "ok" {
		t.Fatalf("List = %v, %v; want only ok", got, err)
	}
	if aws.ToString(api.in.Path) != "/t" || aws.ToBool(api.in.Recursive) || !aws.ToBool(api.in.WithDecryption) {
		t.Errorf("request %+v: want path /t, not recursive, decrypted", api.in)
	}
	recs := logs.records(t)
	if len(recs) != 2 || recs[0]["parameter"] != "/t/empty" || recs[1]["parameter"] != "/t/none" || recs[0]["reason"] != "empty value" {
		t.Errorf("log:\n%s", logs.String())
	}
}

func TestRegistryErrors(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: ssm:GetParametersByPath"}
	api := &fakePath{err: denied}
	var logs logLines
	_, err := ssmparam.NewRegistry(api, "/quotabot/tokens/", logs.logger()).List(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), `list SSM parameters under "/quotabot/tokens/": access denied: `) || !errors.Is(err, denied) {
		t.Errorf("err = %v", err)
	}
	if logs.Len() != 0 {
		t.Errorf("an error is the caller's to log: %s", logs.String())
	}

	// An empty path is no registry: nothing listed, nothing asked.
	api = &fakePath{}
	if got, err := ssmparam.NewRegistry(api, "", nil).List(t.Context()); got != nil || err != nil || api.in != nil {
		t.Errorf("empty path: %v, %v, request %v", got, err, api.in)
	}

	_, mapi, path := registryPath(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ssmparam.NewRegistry(mapi, path, nil).List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}
