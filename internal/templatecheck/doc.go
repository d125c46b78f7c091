// Package templatecheck holds the tests of template.yaml, the SAM
// application: cfn-lint must pass; the SAM translator on the machine (the
// one cfn-lint uses) expands the template offline with testdata/expand.py,
// and the tests read the resulting CloudFormation, its intrinsic functions
// evaluated for the parameter values at hand: least-privilege IAM (the
// tokens path's listing names exactly the path the registry requests), the
// public Function URL, the monitor's schedule and wake-up queue, the three
// alarms → one EventBridge rule → webhook wiring, and the alarms' and the
// dashboard's queries against what the code writes (internal/sample's
// records and heartbeat) and the sandbox evaluates (internal/alarm).
//
// The package has no code of its own outside its tests.
package templatecheck
