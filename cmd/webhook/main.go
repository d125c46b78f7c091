// Command webhook is the bot's Lambda bootstrap: it answers ChatWork webhook
// deliveries through its Function URL and posts the quota alarm's state
// changes, which EventBridge sends to the same function.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	_ "time/tzdata" // QUOTA_TIME_ZONE must work on provided.al2023, which has no zoneinfo

	"github.com/quotabot/chatwork-quota-bot/internal/app"
)

func main() {
	log := app.Logger(os.Stderr)
	awsCfg, err := app.LoadAWS(context.Background())
	if err != nil {
		lambda.Start(app.Failing[json.RawMessage](log, err))
		return
	}
	lambda.Start(app.LazyWebhook(os.Getenv, awsCfg, os.Stdout, log))
}
