// Command monitor is the monitor Lambda's bootstrap: each scheduled
// invocation reads the ChatWork token's quota and records it.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	_ "time/tzdata" // time zones work on provided.al2023, which has no zoneinfo

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

func main() {
	ctx := context.Background()
	log := app.Logger(os.Stderr)
	awsCfg, err := app.LoadAWS(ctx)
	if err != nil {
		lambda.Start(app.Failing[monitor.Summary](log, err))
		return
	}
	m, err := app.NewMonitor(ctx, os.Getenv, awsCfg, os.Stdout, log)
	if err != nil {
		lambda.Start(app.Failing[monitor.Summary](log, err))
		return
	}
	lambda.Start(m.HandleEvent)
}
