package templatecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// expandWith returns template.yaml transformed by the SAM translator with
// the parameter values overrides (Name=Value) on top of expand's, in a run
// of its own.
func expandWith(t testing.TB, overrides ...string) map[string]any {
	t.Helper()
	testproc.SkipShort(t, "python3 with the SAM translator (cfn-lint brings it)")
	cfn, out, missing, err := runExpand(t, overrides...)
	switch {
	case missing != "":
		testproc.Missing(t, missing, installSAM)
	case err != nil:
		t.Fatalf("expand template.yaml with %v: %v\n%s", overrides, err, out)
	}
	return cfn
}

func runExpand(t testing.TB, overrides ...string) (cfn map[string]any, stderr, missing string, err error) {
	py, lookErr := exec.LookPath("python3")
	if lookErr != nil {
		return nil, "", "python3 not found on PATH: the SAM translator runs on it", nil
	}
	args := []string{filepath.Join("testdata", "expand.py"), templatePath(t)}
	args = append(append(args, parameterValues(t)...), overrides...)
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

// The pseudo parameters expand.py gives the translator; resolve uses the
// same.
var pseudo = map[string]string{
	"AWS::Partition": "aws", "AWS::Region": "ap-northeast-1", "AWS::AccountId": "123456789012",
	"AWS::StackName": "quotabot", "AWS::URLSuffix": "amazonaws.com",
}

// values are the expanded template's parameter defaults (RoomId the value
// expand gave it), the pseudo parameters, and overrides on top.
func values(t testing.TB, cfn map[string]any, overrides map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{"RoomId": "4242"}
	params, _ := cfn["Parameters"].(map[string]any)
	for name, p := range params {
		if def, ok := p.(map[string]any)["Default"]; ok {
			out[name] = fmt.Sprint(def)
		}
	}
	for k, v := range pseudo {
		out[k] = v
	}
	for k, v := range overrides {
		if _, ok := out[k]; !ok {
			t.Fatalf("override %s: not a parameter of the template", k)
		}
		out[k] = v
	}
	return out
}

var subRef = regexp.MustCompile(`\$\{([^}!]+)\}`)

// resolve evaluates the intrinsic functions of v as CloudFormation would
// with the parameter values vals: Ref, Fn::Sub, Fn::Join, Fn::Split,
// Fn::If (and the Fn::Equals and Fn::Not of the template's conditions).
// What only exists once deployed stays a marker: a resource's Ref is
// "<id>", its Fn::GetAtt "<id>.<attribute>".
func resolve(t testing.TB, cfn map[string]any, v any, vals map[string]string) any {
	t.Helper()
	str := func(x any) string {
		s, ok := resolve(t, cfn, x, vals).(string)
		if !ok {
			t.Fatalf("%s does not resolve to a string", js(x))
		}
		return s
	}
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = resolve(t, cfn, x, vals)
		}
		return out
	case map[string]any:
		if len(v) != 1 {
			out := map[string]any{}
			for k, x := range v {
				out[k] = resolve(t, cfn, x, vals)
			}
			return out
		}
		for fn, arg := range v {
			args, _ := arg.([]any)
			switch fn {
			case "Ref":
				name, _ := arg.(string)
				if val, ok := vals[name]; ok {
					return val
				}
				return "<" + name + ">"
			case "Fn::GetAtt":
				return fmt.Sprintf("<%v.%v>", args[0], args[1])
			case "Fn::Sub":
				text, local := "", map[string]string{}
				if s, ok := arg.(string); ok {
					text = s
				} else {
					text = str(args[0])
					m, _ := args[1].(map[string]any)
					for k, x := range m {
						local[k] = str(x)
					}
				}
				out := subRef.ReplaceAllStringFunc(text, func(m string) string {
					name := m[2 : len(m)-1]
					if val, ok := local[name]; ok {
						return val
					}
					if val, ok := vals[name]; ok {
						return val
					}
					if id, attr, ok := strings.Cut(name, "."); ok {
						return "<" + id + "." + attr + ">"
					}
					return "<" + name + ">"
				})
				return strings.ReplaceAll(out, "${!", "${")
			case "Fn::Join":
				var parts []string
				for _, x := range resolve(t, cfn, args[1], vals).([]any) {
					parts = append(parts, x.(string))
				}
				return strings.Join(parts, str(args[0]))
			case "Fn::Split":
				var out []any
				for _, s := range strings.Split(str(args[1]), str(args[0])) {
					out = append(out, s)
				}
				return out
			case "Fn::If":
				conds, _ := cfn["Conditions"].(map[string]any)
				cond, ok := conds[args[0].(string)]
				if !ok {
					t.Fatalf("Fn::If names %v, which is not a condition", args[0])
				}
				if resolve(t, cfn, cond, vals) == true {
					return resolve(t, cfn, args[1], vals)
				}
				return resolve(t, cfn, args[2], vals)
			case "Fn::Equals":
				return fmt.Sprint(resolve(t, cfn, args[0], vals)) == fmt.Sprint(resolve(t, cfn, args[1], vals))
			case "Fn::Not":
				return resolve(t, cfn, args[0], vals) != true
			}
			if strings.HasPrefix(fn, "Fn::") {
				t.Fatalf("resolve does not know %s", fn)
			}
			return map[string]any{fn: resolve(t, cfn, arg, vals)}
		}
	}
	return v
}
