// Command monitor is the monitor Lambda's bootstrap: each scheduled
// invocation reads the ChatWork token's quota and records it.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	_ "time/tzdata" // QUOTA_TIME_ZONE is checked on provided.al2023, which has no zoneinfo

	"github.com/quotabot/chatwork-quota-bot/internal/app/monitorfn"
)

func main() { lambda.Start(monitorfn.New(context.Background(), os.Getenv, os.Stdout, os.Stderr)) }
