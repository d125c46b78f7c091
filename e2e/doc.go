// Package e2e runs the Lambda bootstraps the way Lambda does: each binary
// under the AWS Lambda Runtime Interface Emulator (the Go module pinned by
// go.mod's tool directive), with moto_server standing in for SSM and
// CloudWatch Logs and the ChatWork simulator for ChatWork. The tests build
// the host bootstraps, and when qemu-aarch64-static is installed also the
// linux/arm64 ones SAM deploys (make build-<Function>), and invoke them over
// the emulator's HTTP API.
//
// The package has no code of its own outside its tests; README.md says how
// to measure the functions with them.
package e2e
