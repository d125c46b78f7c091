package webhookfn

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/cwmetrics"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// The morning schedule's payload, through the handler wired from the
// environment: the digest of yesterday in QUOTA_TIME_ZONE, drawn from the
// metrics the test put into moto's CloudWatch (moto turns no EMF line into
// a metric), lands in the room as one upload whose PNG decodes and whose
// message names the date and the token's figures. The schedule firing
// again posts nothing more.
func TestDigestPayload(t *testing.T) {
	e := setupWebhook(t)
	// A label of the test's own: moto's metrics are shared by the package.
	label := awstest.UniqueName(t, "digest-")
	e.vars["QUOTA_TOKEN_LABEL"] = label
	e.vars["QUOTA_TIME_ZONE"] = "Asia/Tokyo"
	e.vars["QUOTA_ALARM_THRESHOLD"] = "60"
	cfg := awstest.Config(t, e.endpoint)
	h, err := Wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs))
	if err != nil {
		t.Fatal(err)
	}

	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	y := time.Now().In(tokyo).AddDate(0, 0, -1)
	start := time.Date(y.Year(), y.Month(), y.Day(), 0, 0, 0, 0, tokyo)
	// A reading every minute of yesterday: 250 remaining, but 40 from
	// 10:00 to 11:00 and 0 at 10:30 (one window ran dry).
	var data []types.MetricDatum
	for at := start; at.Before(start.Add(24 * time.Hour)); at = at.Add(time.Minute) {
		v := 250.0
		if at.Hour() == 10 {
			v = 40
			if at.Minute() == 30 {
				v = 0
			}
		}
		data = append(data, types.MetricDatum{
			MetricName: aws.String(sample.MetricRemaining), Timestamp: aws.Time(at), Value: aws.Float64(v), Unit: types.StandardUnitCount,
			Dimensions: []types.Dimension{{Name: aws.String(sample.Dimension), Value: aws.String(label)}},
		})
	}
	client := cwmetrics.NewClient(cfg)
	for len(data) > 0 {
		n := min(len(data), 1000)
		if _, err := client.PutMetricData(t.Context(), &cloudwatch.PutMetricDataInput{Namespace: aws.String(sample.Namespace), MetricData: data[:n]}, func(o *cloudwatch.Options) {
			o.DisableRequestCompression = true // moto fails on gzipped bodies
		}); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}

	for range 2 {
		if _, err := h(context.Background(), json.RawMessage(Digest)); err != nil {
			t.Fatalf("%v\nlog:\n%s", err, e.logs)
		}
	}
	files := e.sim.Files(roomID)
	if len(files) != 1 {
		t.Fatalf("%d files in the room, want the one digest\nlog:\n%s", len(files), e.logs)
	}
	f := files[0]
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("the digest's chart does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("chart of %v", b)
	}
	date := start.Format("Mon 2006-01-02")
	for _, want := range []string{
		"quota digest: " + date,
		label + ": 288 windows, 12 at or under the threshold, 1 ran dry; lowest 0 remaining at 10:30; busiest hour 10:00-11:00",
	} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message lacks %q:\n%s", want, f.Message)
		}
	}
	if f.Name != "quota-digest-"+start.Format(time.DateOnly)+".png" || f.ContentType != "image/png" {
		t.Errorf("file %q typed %q", f.Name, f.ContentType)
	}
	if got := len(e.sim.Messages(roomID)); got != 1 {
		t.Errorf("%d messages in the room, want the upload's only", got)
	}
	if !strings.Contains(e.logs.String(), "digest already posted") {
		t.Errorf("the second run did not find the digest posted; log:\n%s", e.logs)
	}
	e.noSecret(t)
}
