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
	ctx := context.Background()
	log := app.Logger(os.Stderr)
	awsCfg, err := app.LoadAWS(ctx)
	if err != nil {
		lambda.Start(app.Failing[json.RawMessage](log, err))
		return
	}
	w, err := app.NewWebhook(ctx, os.Getenv, awsCfg, os.Stdout, log)
	if err != nil {
		lambda.Start(app.Failing[json.RawMessage](log, err))
		return
	}
	lambda.Start(w.Handle)
}
