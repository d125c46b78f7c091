package templatecheck

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// What SAM itself adds to the expanded template, and why it is acceptable.
// Everything else in an IAM policy was written by us and must name its
// resources.
var samManagedPolicies = map[string]string{
	"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "every function: its own log group (Resource *, AWS-managed)",
	// Only a function with an SQS event source gets this one.
	"arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": "the SQS poller of an SQS event source (Resource *, AWS-managed)",
}

// The functions' roles as SAM names them, and what each may do with which
// SSM parameters, log actions, queues and table. Both also list the tokens
// under TokensPath (checkTokensPathGrant).
var functionRoles = map[string]struct {
	function   string
	parameters []string // template parameters naming SSM parameters it reads
	logs       []string // logs: actions on the samples log group
	sqsEvents  bool     // has an SQS event source
	sendsTo    string   // the one queue it may send to
	table      bool     // uses the state table: exactly stateTableActions on it
	metrics    bool     // reads the metrics: exactly cloudwatch:GetMetricData on "*"
}{
	"MonitorFunctionRole": {
		function:   "MonitorFunction",
		parameters: []string{"ChatWorkTokenParameter"},
		logs:       []string{"logs:CreateLogStream", "logs:FilterLogEvents", "logs:PutLogEvents"},
		sqsEvents:  true,
		sendsTo:    "WakeQueue", // its wake-ups
	},
	"WebhookFunctionRole": {
		function:   "WebhookFunction",
		parameters: []string{"ChatWorkTokenParameter", "WebhookTokenParameter"},
		logs:       []string{"logs:CreateLogStream", "logs:FilterLogEvents", "logs:GetLogEvents", "logs:PutLogEvents"},
		sendsTo:    "WebhookFailedEventsQueue", // its on-failure destination (SAM's grant)
		table:      true,
		metrics:    true, // the charts and the digest
	},
}

// ssmParamARN matches the one form an SSM parameter ARN may take in our
// policies: a parameter of this template, whose value starts with "/".
var ssmParamARN = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:ssm:\$\{AWS::Region\}:\$\{AWS::AccountId\}:parameter\$\{([A-Za-z0-9]+)\}$`)

type statement struct {
	role, policy string
	raw          map[string]any
}

func inlineStatements(t *testing.T, roleID string, role map[string]any) []statement {
	t.Helper()
	var out []statement
	for _, p := range list(role["Policies"]) {
		pol, _ := p.(map[string]any)
		doc, _ := pol["PolicyDocument"].(map[string]any)
		for _, s := range list(doc["Statement"]) {
			st, ok := s.(map[string]any)
			if !ok {
				t.Fatalf("%s: statement %s is not an object", roleID, js(s))
			}
			out = append(out, statement{role: roleID, policy: js(pol["PolicyName"]), raw: st})
		}
	}
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Every IAM statement we wrote names its resources: the SSM parameters the
// function needs and the samples log group (and the wake queue for the
// monitor); no wildcard. What SAM adds is allow-listed above and below.
func TestIAMLeastPrivilege(t *testing.T) {
	cfn := expand(t)
	params := get(loadYAML(t), "Parameters")
	roles := resources(cfn, "AWS::IAM::Role")
	for _, roleID := range sortedKeys(roles) {
		role := roles[roleID]
		t.Run(roleID, func(t *testing.T) {
			want, isFunction := functionRoles[roleID]
			if !isFunction {
				checkSAMEventRole(t, roleID, role, cfn)
				return
			}
			var allowedManaged []string
			for _, arn := range strs(role["ManagedPolicyArns"]) {
				why, ok := samManagedPolicies[arn]
				if !ok || (strings.HasSuffix(arn, "/AWSLambdaSQSQueueExecutionRole") && !want.sqsEvents) {
					t.Errorf("managed policy %s is not on the allow-list", arn)
					continue
				}
				allowedManaged = append(allowedManaged, arn+" ("+why+")")
			}
			t.Logf("allow-listed, added by SAM: %v", allowedManaged)

			readParams := map[string]bool{}
			var logActions, tableActions []string
			var listings, denies, metricsReads int
			for _, st := range inlineStatements(t, roleID, role) {
				s := st.raw
				if readsMetrics(s) {
					// The one statement on "*": GetMetricData supports no
					// resource scoping.
					metricsReads++
					continue
				}
				if s["Effect"] != "Allow" {
					if !checkNoRecursion(t, cfn, s) {
						t.Errorf("statement %s: the one Deny expected is the tokens path's recursive listing", js(s))
					}
					denies++
					continue
				}
				if c, ok := s["Condition"]; ok {
					t.Errorf("statement %s: an Allow with a condition %s", js(s), js(c))
				}
				for _, k := range []string{"NotAction", "NotResource", "Principal"} {
					if _, ok := s[k]; ok {
						t.Errorf("statement %s uses %s", js(s), k)
					}
				}
				actions := strs(s["Action"])
				res := list(s["Resource"])
				if len(actions) == 0 || len(res) == 0 {
					t.Errorf("statement %s lacks Action or Resource", js(s))
				}
				for _, r := range res {
					if str, ok := resolve(t, cfn, r, values(t, cfn, nil)).(string); !ok || strings.Contains(str, "*") {
						t.Errorf("statement %s: resource %s is a wildcard or no single ARN", js(s), js(r))
					}
				}
				service := ""
				for _, a := range actions {
					if strings.Contains(a, "*") {
						t.Errorf("statement %s: wildcard action %q", js(s), a)
					}
					svc, _, _ := strings.Cut(a, ":")
					if service != "" && svc != service {
						t.Errorf("statement %s mixes services", js(s))
					}
					service = svc
				}
				switch service {
				case "ssm":
					if slices.Equal(actions, []string{"ssm:GetParametersByPath"}) && len(res) == 1 {
						checkTokensPathGrant(t, cfn, res[0])
						listings++
						continue
					}
					if !slices.Equal(actions, []string{"ssm:GetParameter"}) {
						t.Errorf("statement %s: SSM access must be ssm:GetParameter, or ssm:GetParametersByPath on the tokens path", js(s))
					}
					for _, r := range res {
						sub, _ := r.(map[string]any)["Fn::Sub"].(string)
						m := ssmParamARN.FindStringSubmatch(sub)
						if m == nil {
							t.Errorf("statement %s: resource %s is not one SSM parameter of this template", js(s), js(r))
							continue
						}
						p := get(params, m[1])
						if p == nil {
							t.Errorf("resource %s names %s, which is not a template parameter", js(r), m[1])
							continue
						}
						if pat := get(p, "AllowedPattern"); pat == nil || !strings.HasPrefix(pat.Value, "^/") {
							t.Errorf("parameter %s must only allow names starting with / (the ARN is parameter${%s})", m[1], m[1])
						}
						readParams[m[1]] = true
					}
				case "logs":
					for _, r := range res {
						if js(r) != getAtt("SamplesLogGroup", "Arn") {
							t.Errorf("statement %s: logs access beyond the samples log group: %s", js(s), js(r))
						}
					}
					logActions = append(logActions, actions...)
				case "sqs":
					if !slices.Equal(actions, []string{"sqs:SendMessage"}) {
						t.Errorf("statement %s: SQS access must be sqs:SendMessage", js(s))
					}
					for _, r := range res {
						if want.sendsTo == "" || js(r) != getAtt(want.sendsTo, "Arn") {
							t.Errorf("statement %s: %s may send to %q only, not %s", js(s), want.function, want.sendsTo, js(r))
						}
					}
				case "dynamodb":
					// The table's own ARN: no index (it has none), no
					// wildcard, no other table.
					for _, r := range res {
						if !want.table || js(r) != getAtt("StateTable", "Arn") {
							t.Errorf("statement %s: DynamoDB access beyond the state table (%s uses it: %v): %s", js(s), want.function, want.table, js(r))
						}
					}
					tableActions = append(tableActions, actions...)
				default:
					t.Errorf("statement %s: unexpected service %q", js(s), service)
				}
			}
			if want.metrics != (metricsReads == 1) || metricsReads > 1 {
				t.Errorf("%s reads the metrics in %d statements (cloudwatch:GetMetricData on \"*\"), want %d", want.function, metricsReads, map[bool]int{true: 1}[want.metrics])
			}
			if listings != 1 || denies != 1 {
				t.Errorf("%s lists the tokens path in %d statements and denies its recursion in %d; want one of each", want.function, listings, denies)
			}
			if got := sortedKeys(readParams); !slices.Equal(got, want.parameters) {
				t.Errorf("%s reads SSM parameters %v, want exactly %v", want.function, got, want.parameters)
			}
			slices.Sort(logActions)
			if !slices.Equal(logActions, want.logs) {
				t.Errorf("%s has %v on the samples log group, want exactly %v", want.function, logActions, want.logs)
			}
			slices.Sort(tableActions)
			if wantTable := stateTableActions(want.table); !slices.Equal(tableActions, wantTable) {
				t.Errorf("%s has %v on the state table, want exactly %v (the methods of state.DynamoAPI)", want.function, tableActions, wantTable)
			}
		})
	}
	for roleID := range functionRoles {
		if _, ok := roles[roleID]; !ok {
			t.Errorf("template lacks %s (the role SAM makes for %s)", roleID, functionRoles[roleID].function)
		}
	}
}

// readsMetrics reports whether s is exactly the grant the charts need:
// Allow cloudwatch:GetMetricData on "*" and nothing else (any other
// CloudWatch statement is an unexpected service to the caller).
func readsMetrics(s map[string]any) bool {
	keys := slices.DeleteFunc(sortedKeys(s), func(k string) bool { return k == "Sid" })
	return s["Effect"] == "Allow" && slices.Equal(strs(s["Action"]), []string{"cloudwatch:GetMetricData"}) &&
		js(list(s["Resource"])) == `["*"]` && slices.Equal(keys, []string{"Action", "Effect", "Resource"})
}

// checkSAMEventRole allows the roles SAM makes for event sources, and the
// digest schedule's written the same way: a scheduler role that may only
// invoke the function its schedule targets.
func checkSAMEventRole(t *testing.T, roleID string, role map[string]any, cfn map[string]any) {
	t.Helper()
	trust := js(role["AssumeRolePolicyDocument"])
	if !strings.Contains(trust, `"scheduler.amazonaws.com"`) {
		t.Fatalf("role %s is neither a function's role nor SAM's scheduler role: %s", roleID, trust)
	}
	var targets []string
	for _, s := range resources(cfn, "AWS::Scheduler::Schedule") {
		if target, _ := s["Target"].(map[string]any); js(target["RoleArn"]) == getAtt(roleID, "Arn") {
			targets = append(targets, js(target["Arn"]))
		}
	}
	if len(targets) != 1 {
		t.Fatalf("scheduler role %s is the role of %d schedules, want 1", roleID, len(targets))
	}
	if m := role["ManagedPolicyArns"]; m != nil {
		t.Errorf("scheduler role %s has managed policies %s", roleID, js(m))
	}
	sts := inlineStatements(t, roleID, role)
	if len(sts) != 1 {
		t.Fatalf("scheduler role %s: %d statements, want 1", roleID, len(sts))
	}
	s := sts[0].raw
	var function string
	for id := range resources(cfn, "AWS::Lambda::Function") {
		if getAtt(id, "Arn") == targets[0] {
			function = id
		}
	}
	if function == "" || js(s["Action"]) != `"lambda:InvokeFunction"` || js(s["Resource"]) != targets[0] {
		t.Errorf("scheduler role %s: %s, want lambda:InvokeFunction on its schedule's target function %s only", roleID, js(s), targets[0])
	}
	t.Logf("allow-listed scheduler role: %s (as SAM makes for ScheduleV2: lambda:InvokeFunction on %s)", roleID, function)
}

// Only the webhook is public: one Function URL with AuthType NONE (the
// webhook checks ChatWork's signature itself), in BUFFERED mode.
func TestFunctionURL(t *testing.T) {
	cfn := expand(t)
	urls := resources(cfn, "AWS::Lambda::Url")
	if len(urls) == 0 {
		t.Fatal("template lacks a Function URL (AWS::Lambda::Url) for WebhookFunction")
	}
	for id, u := range urls {
		if js(u["TargetFunctionArn"]) != ref("WebhookFunction") {
			t.Errorf("%s targets %s, want WebhookFunction only", id, js(u["TargetFunctionArn"]))
		}
		if u["AuthType"] != "NONE" {
			t.Errorf("%s AuthType %v, want NONE", id, u["AuthType"])
		}
		if m, ok := u["InvokeMode"]; ok && m != "BUFFERED" {
			t.Errorf("%s InvokeMode %v: the funcurl adapter serves BUFFERED", id, m)
		}
	}
	// SAM's public permissions for the URL are the only ones with a
	// wildcard principal, and only on the webhook.
	for id, p := range resources(cfn, "AWS::Lambda::Permission") {
		if p["Principal"] != "*" {
			continue
		}
		viaURL := p["FunctionUrlAuthType"] == "NONE" || p["InvokedViaFunctionUrl"] == true
		if !viaURL || js(p["FunctionName"]) != ref("WebhookFunction") {
			t.Errorf("permission %s lets anyone invoke %s other than through the webhook's URL: %s", id, js(p["FunctionName"]), js(p))
		} else {
			t.Logf("allow-listed, added by SAM for AuthType NONE: %s (%v)", id, p["Action"])
		}
	}
	out := get(loadYAML(t), "Outputs", "WebhookUrl", "Value")
	if out == nil || out.Tag != "!GetAtt" || out.Value != "WebhookFunctionUrl.FunctionUrl" {
		t.Error("template lacks the output WebhookUrl: !GetAtt WebhookFunctionUrl.FunctionUrl")
	}
}

// The monitor runs on an EventBridge Scheduler schedule (ScheduleV2) whose
// expression is the ScheduleExpression parameter and whose payload is the
// raw tick the monitor handles. (The webhook's housekeeping schedule:
// TestHousekeepingSchedule.)
func TestSchedule(t *testing.T) {
	cfn := expand(t)
	var found int
	for id, s := range resources(cfn, "AWS::Scheduler::Schedule") {
		target, _ := s["Target"].(map[string]any)
		switch js(target["Arn"]) {
		case getAtt("WebhookFunction", "Arn"):
			continue
		case getAtt("MonitorFunction", "Arn"):
		default:
			t.Errorf("schedule %s targets %s, want MonitorFunction or WebhookFunction", id, js(target["Arn"]))
			continue
		}
		found++
		if js(s["ScheduleExpression"]) != ref("ScheduleExpression") {
			t.Errorf("schedule %s expression %s, want the ScheduleExpression parameter", id, js(s["ScheduleExpression"]))
		}
		input, _ := target["Input"].(string)
		var tick struct{ Action string }
		if err := json.Unmarshal([]byte(input), &tick); err != nil || tick.Action != "tick" {
			t.Errorf("schedule %s input %q, want {\"action\":\"tick\"}", id, input)
		}
		if fw, _ := s["FlexibleTimeWindow"].(map[string]any); fw["Mode"] != "OFF" {
			t.Errorf("schedule %s flexible time window %s: readings would drift", id, js(fw))
		}
	}
	if found != 1 {
		t.Errorf("template has %d ScheduleV2 schedules targeting MonitorFunction, want 1", found)
	}
	if n := len(resources(cfn, "AWS::Events::Rule")); n > 0 {
		for id, r := range resources(cfn, "AWS::Events::Rule") {
			if _, ok := r["ScheduleExpression"]; ok {
				t.Errorf("rule %s is a Type: Schedule event (EventBridge envelope); the monitor expects ScheduleV2's raw input", id)
			}
		}
	}
}

// The wake queue's delayed messages invoke the monitor, one at a time.
func TestWakeQueueEventSource(t *testing.T) {
	cfn := expand(t)
	var found int
	for id, m := range resources(cfn, "AWS::Lambda::EventSourceMapping") {
		if js(m["EventSourceArn"]) != getAtt("WakeQueue", "Arn") {
			continue
		}
		found++
		if js(m["FunctionName"]) != ref("MonitorFunction") {
			t.Errorf("%s maps the wake queue to %s, want MonitorFunction", id, js(m["FunctionName"]))
		}
		if b, ok := m["BatchSize"].(float64); !ok || b != 1 {
			t.Errorf("%s BatchSize %v, want 1", id, m["BatchSize"])
		}
	}
	if found != 1 {
		t.Errorf("template has %d event source mappings from WakeQueue, want 1", found)
	}
}

// The alarms' state changes reach the webhook: one EventBridge rule from
// aws.cloudwatch for both the alarms' own state changes and the Metrics
// Insights alarms' per-token contributor changes, for exactly the
// template's alarms' ARNs (the four token alarms and the ops alarms),
// targeting WebhookFunction, which that rule may invoke.
func TestAlarmsReachWebhook(t *testing.T) {
	cfn := expand(t)
	var want []string
	for id := range resources(cfn, "AWS::CloudWatch::Alarm") {
		want = append(want, getAtt(id, "Arn"))
	}
	slices.Sort(want)
	for _, id := range []string{"QuotaAlarm", "PaceAlarm", "TokenErrorsAlarm", "HeartbeatAlarm"} {
		if !slices.Contains(want, getAtt(id, "Arn")) {
			t.Errorf("template lacks %s", id)
		}
	}
	var rules []string
	for id, r := range resources(cfn, "AWS::Events::Rule") {
		p, _ := r["EventPattern"].(map[string]any)
		var arns []string
		for _, x := range list(p["resources"]) {
			arns = append(arns, js(x))
		}
		if len(arns) == 0 {
			continue
		}
		rules = append(rules, id)
		slices.Sort(arns)
		types := strs(p["detail-type"])
		slices.Sort(types)
		if !slices.Equal(arns, want) {
			t.Errorf("rule %s matches resources %v, want the alarms %v", id, arns, want)
		}
		if js(p["source"]) != `["aws.cloudwatch"]` || !slices.Equal(types, []string{"CloudWatch Alarm Contributor State Change", "CloudWatch Alarm State Change"}) {
			t.Errorf("rule %s pattern %s, want source [aws.cloudwatch] and both alarm detail-types", id, js(p))
		}
		if tg := list(r["Targets"]); len(tg) != 1 || js(tg[0].(map[string]any)["Arn"]) != getAtt("WebhookFunction", "Arn") {
			t.Errorf("rule %s targets %s, want WebhookFunction only", id, js(r["Targets"]))
		}
		var permitted bool
		for _, p := range resources(cfn, "AWS::Lambda::Permission") {
			permitted = permitted || (p["Principal"] == "events.amazonaws.com" &&
				js(p["FunctionName"]) == ref("WebhookFunction") && js(p["SourceArn"]) == getAtt(id, "Arn"))
		}
		if !permitted {
			t.Errorf("template lacks the permission for rule %s to invoke WebhookFunction", id)
		}
	}
	if len(rules) != 1 {
		t.Errorf("template has %d rules for alarm events (%v), want one", len(rules), rules)
	}
}

// Both functions run the Makefile's bootstrap on provided.al2023/arm64 with
// the contract's variables.
func TestFunctions(t *testing.T) {
	cfn := expand(t)
	fns := resources(cfn, "AWS::Lambda::Function")
	common := []string{"CHATWORK_API_URL", "CHATWORK_TOKEN_PARAMETER", "QUOTA_LOG_GROUP", "QUOTA_TOKEN_LABEL",
		"QUOTA_TOKENS_PATH", "QUOTA_ALARM_THRESHOLD_KIND"}
	for id, extra := range map[string][]string{
		"MonitorFunction": {"QUOTA_SCHEDULE", "QUOTA_WAKE_QUEUE_URL"},
		"WebhookFunction": {"CHATWORK_WEBHOOK_TOKEN_PARAMETER", "CHATWORK_ROOM_ID", "QUOTA_ALARM_NAME", "QUOTA_PACE_ALARM_NAME",
			"QUOTA_ERRORS_ALARM_NAME", "QUOTA_HEARTBEAT_ALARM_NAME", "QUOTA_STATE_TABLE", "QUOTA_ADMIN_ACCOUNT_IDS"},
	} {
		fn, ok := fns[id]
		if !ok {
			t.Errorf("template lacks %s", id)
			continue
		}
		if fn["Runtime"] != "provided.al2023" || fn["Handler"] != "bootstrap" || js(fn["Architectures"]) != `["arm64"]` {
			t.Errorf("%s: runtime %v, handler %v, architectures %s; want provided.al2023, bootstrap, [arm64]", id, fn["Runtime"], fn["Handler"], js(fn["Architectures"]))
		}
		env, _ := fn["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for _, v := range append(common, extra...) {
			if _, ok := vars[v]; !ok {
				t.Errorf("%s lacks the environment variable %s", id, v)
			}
		}
		for name, v := range vars {
			if strings.Contains(strings.ToUpper(name), "TOKEN") && !strings.HasSuffix(name, "_PARAMETER") &&
				name != "QUOTA_TOKEN_LABEL" && name != "QUOTA_TOKENS_PATH" {
				t.Errorf("%s: %s=%s looks like a secret in the environment; secrets live in SSM", id, name, js(v))
			}
		}
		// The path the registry lists is the one the IAM grant names.
		if js(vars["QUOTA_TOKENS_PATH"]) != ref("TokensPath") || js(vars["QUOTA_ALARM_THRESHOLD_KIND"]) != ref("AlarmThresholdKind") {
			t.Errorf("%s: QUOTA_TOKENS_PATH %s, QUOTA_ALARM_THRESHOLD_KIND %s; want the TokensPath and AlarmThresholdKind parameters",
				id, js(vars["QUOTA_TOKENS_PATH"]), js(vars["QUOTA_ALARM_THRESHOLD_KIND"]))
		}
	}
}
