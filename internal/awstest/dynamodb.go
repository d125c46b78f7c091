package awstest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// CreateStateTable creates the bot's state table (QUOTA_STATE_TABLE) as the
// template declares it: on-demand, keyed by state.PartitionKey and
// state.SortKey, with state.TTLAttribute as its TTL.
func CreateStateTable(t testing.TB, cfg aws.Config, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := dynamodb.NewFromConfig(cfg)
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(state.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(state.SortKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(state.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(state.SortKey), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatalf("create table %q: %v", name, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(state.TTLAttribute), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatalf("enable TTL on table %q: %v", name, err)
	}
}

// DeadEndpoint returns an endpoint URL where nothing listens: an AWS
// service that is down.
func DeadEndpoint(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + strconv.Itoa(port)
}
