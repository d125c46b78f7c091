// Package templatecheck holds the tests of template.yaml, the SAM
// application: cfn-lint must pass; the SAM translator on the machine (the
// one cfn-lint uses) expands the template offline with testdata/expand.py,
// and the tests read the resulting CloudFormation for least-privilege IAM,
// the public Function URL, the monitor's schedule and wake-up queue, and the
// alarm → EventBridge rule → webhook wiring; and the alarm's and the
// dashboard's metric identity must equal the Go constants the functions
// write (internal/sample) and the sandbox evaluates (internal/alarm).
//
// The package has no code of its own outside its tests.
package templatecheck
