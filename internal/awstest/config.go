package awstest

import (
	"context"
	"crypto/rand"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cloudwatchlogstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Dummy credentials: moto accepts any, and real AWS would refuse these, so a
// misdirected test can do no harm.
const (
	accessKeyID     = "testing"
	secretAccessKey = "testing"
)

// Config returns an SDK configuration that talks to the emulator at endpoint
// with dummy static credentials in Region. It goes through
// config.LoadDefaultConfig, as the Lambda functions do, so the SDK's default
// retryer and HTTP client are the ones under test.
func Config(t testing.TB, endpoint string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")),
		config.WithBaseEndpoint(endpoint),
		// Shared config files on the developer's machine must not leak in.
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatalf("load AWS config for %s: %v", endpoint, err)
	}
	return cfg
}

// Env returns environment entries that point a child process's AWS SDK at
// the emulator. Append them after os.Environ() so they win: the empty
// AWS_PROFILE and AWS_SESSION_TOKEN override the developer's own.
func Env(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + accessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// UniqueName returns a name no other test sharing the emulator uses:
// prefix, the test's name and a random suffix, safe for SSM parameter
// paths, log groups and log streams.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	return prefix + strings.Trim(unsafeName.ReplaceAllString(t.Name(), "-"), "-") + "-" + rand.Text()[:8]
}

// PutSecureString stores value as a SecureString parameter (encrypted with
// the default aws/ssm key), overwriting any earlier value.
func PutSecureString(t testing.TB, cfg aws.Config, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(name),
		Value:     aws.String(value),
		Type:      ssmtypes.ParameterTypeSecureString,
		Overwrite: aws.Bool(true),
	})
	if err != nil {
		// The value stays out of the message: tests seed secrets too.
		t.Fatalf("seed SSM parameter %q: %v", name, err)
	}
}

// CreateLogGroup creates a log group, as the SAM template does in AWS.
func CreateLogGroup(t testing.TB, cfg aws.Config, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cloudwatchlogs.NewFromConfig(cfg).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{
		LogGroupName: aws.String(name),
	})
	if err != nil {
		t.Fatalf("create log group %q: %v", name, err)
	}
}

// LogEvents returns the messages of every event in a log stream, oldest
// first, or nil when the stream does not exist.
func LogEvents(t testing.TB, cfg aws.Config, group, stream string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := cloudwatchlogs.NewFromConfig(cfg)
	var (
		msgs  []string
		token *string
	)
	for {
		out, err := client.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(group),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     token,
		})
		if err != nil {
			if streamMissing(ctx, client, group, stream) {
				return nil
			}
			t.Fatalf("read log stream %q in group %q: %v", stream, group, err)
		}
		for _, e := range out.Events {
			msgs = append(msgs, aws.ToString(e.Message))
		}
		// The forward token repeats once the end of the stream is reached.
		if len(out.Events) == 0 || out.NextForwardToken == nil || aws.ToString(out.NextForwardToken) == aws.ToString(token) {
			return msgs
		}
		token = out.NextForwardToken
	}
}

// streamMissing reports whether the group exists but the stream does not.
func streamMissing(ctx context.Context, client *cloudwatchlogs.Client, group, stream string) bool {
	out, err := client.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName:        aws.String(group),
		LogStreamNamePrefix: aws.String(stream),
	})
	if err != nil {
		return false
	}
	return !slices.ContainsFunc(out.LogStreams, func(s cloudwatchlogstypes.LogStream) bool {
		return aws.ToString(s.LogStreamName) == stream
	})
}
