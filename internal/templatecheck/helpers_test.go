package templatecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// toolTimeout bounds a Python tool run on a busy machine; it only turns a
// hang into a failure.
const toolTimeout = 5 * time.Minute

// installSAM is how to get cfn-lint and the SAM translator it brings.
const installSAM = "python3 -m pip install cfn-lint"

func templatePath(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("template: %v", err)
	}
	return p
}

// loadYAML parses template.yaml keeping CloudFormation's short-form tags
// (!Ref, !Sub, !GetAtt, !If ...) as the nodes' Tag.
func loadYAML(t testing.TB) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile(templatePath(t))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("template.yaml is not one mapping")
	}
	return doc.Content[0]
}

// get follows mapping keys from n; nil when one is missing.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// mustGet is get that fails the test with "template lacks ...".
func mustGet(t testing.TB, n *yaml.Node, keys ...string) *yaml.Node {
	t.Helper()
	v := get(n, keys...)
	if v == nil {
		t.Fatalf("template lacks %s", strings.Join(keys, "."))
	}
	return v
}

var (
	expandOnce sync.Once
	expanded   map[string]any
	expandOut  string
	expandMiss string // why the SAM translator cannot run
	expandErr  error
)

// expand returns template.yaml transformed into CloudFormation by the SAM
// translator (testdata/expand.py), once per test binary.
func expand(t testing.TB) map[string]any {
	t.Helper()
	testproc.SkipShort(t, "python3 with the SAM translator (cfn-lint brings it)")
	expandOnce.Do(func() { expanded, expandOut, expandMiss, expandErr = runExpand(t) })
	switch {
	case expandMiss != "":
		testproc.Missing(t, expandMiss, installSAM)
	case expandErr != nil:
		t.Fatalf("expand template.yaml: %v\n%s", expandErr, expandOut)
	}
	return expanded
}

func runExpand(t testing.TB) (cfn map[string]any, stderr, missing string, err error) {
	py, lookErr := exec.LookPath("python3")
	if lookErr != nil {
		return nil, "", "python3 not found on PATH: the SAM translator runs on it", nil
	}
	args := []string{filepath.Join("testdata", "expand.py"), templatePath(t)}
	args = append(args, parameterValues(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if strings.Contains(errOut.String(), "No module named 'samtranslator'") {
			return nil, "", "python3 cannot import samtranslator (aws-sam-translator)", nil
		}
		return nil, errOut.String(), "", err
	}
	if err := json.Unmarshal(out.Bytes(), &cfn); err != nil {
		return nil, errOut.String(), "", fmt.Errorf("expand.py printed no JSON: %w", err)
	}
	return cfn, errOut.String(), "", nil
}

// parameterValues gives every parameter without a default a value of its
// type, as `sam deploy` would ask for: RoomId a room id, others a
// placeholder.
func parameterValues(t testing.TB) []string {
	t.Helper()
	params := get(loadYAML(t), "Parameters")
	var out []string
	if params == nil {
		return nil
	}
	for i := 0; i+1 < len(params.Content); i += 2 {
		name, spec := params.Content[i].Value, params.Content[i+1]
		if get(spec, "Default") != nil {
			continue
		}
		v := "placeholder"
		if typ := get(spec, "Type"); typ != nil && typ.Value == "Number" {
			v = "4242"
		}
		out = append(out, name+"="+v)
	}
	return out
}

// resources returns the expanded template's resources of a type, by
// logical id.
func resources(cfn map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	all, _ := cfn["Resources"].(map[string]any)
	for id, r := range all {
		res, _ := r.(map[string]any)
		if res["Type"] == typ {
			props, _ := res["Properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
			}
			out[id] = props
		}
	}
	return out
}

// js is v as compact JSON with sorted keys: the form assertions compare.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// list is v as a list: CloudFormation allows a single value where a list
// is expected (Action, Resource).
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func ref(id string) string { return js(map[string]any{"Ref": id}) }
func getAtt(id, attr string) string {
	return js(map[string]any{"Fn::GetAtt": []any{id, attr}})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
