// Package templatecheck holds the tests of template.yaml, the SAM
// application: cfn-lint must pass; the SAM translator on the machine (the
// one cfn-lint uses) expands the template offline with testdata/expand.py,
// and the tests read the resulting CloudFormation, its intrinsic functions
// evaluated for the parameter values at hand: least-privilege IAM (the
// tokens path's listing names exactly the path the registry requests), the
// public Function URL, the monitor's schedule and wake-up queue, the
// alarms → one EventBridge rule → webhook wiring, and the alarms' and the
// dashboard's queries against what the code writes (internal/sample's
// records, projections and heartbeat) and the stand-in evaluates
// (internal/alarm's rules and shapes); the
// state table against internal/state (its key schema, TTL attribute, and
// exactly the item actions of state.DynamoAPI on its ARN), the webhook's
// housekeeping schedule against webhookfn.Housekeeping, the morning
// digest's schedule against webhookfn.Digest (in TimeZone, absent when
// DigestSchedule is empty), the one grant on "*" (cloudwatch:GetMetricData,
// which supports no resource scoping), and the ops alarms
// (each function's errors and throttles, every queue of failures, the
// failed alarm posts) with OpsTopic, the only thing anything may publish
// to.
//
// The package has no code of its own outside its tests.
package templatecheck
