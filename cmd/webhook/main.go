// Command webhook is the bot's Lambda bootstrap: it answers ChatWork webhook
// deliveries through its Function URL and posts the quota alarm's state
// changes, which EventBridge sends to the same function.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	_ "time/tzdata" // QUOTA_TIME_ZONE must work on provided.al2023, which has no zoneinfo

	"github.com/quotabot/chatwork-quota-bot/internal/app/webhookfn"
)

func main() { lambda.Start(webhookfn.New(context.Background(), os.Getenv, os.Stdout, os.Stderr)) }
