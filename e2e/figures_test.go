package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/quotabot/chatwork-quota-bot/internal/app/webhookfn"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

var (
	figures     = flag.Bool("figures", false, "measure the functions under the emulator (TestEmulatorFigures); see README.md")
	figuresWarm = flag.Int("figures.warm", 200, "warm invocations per function and path")
	figuresCold = flag.Int("figures.cold", 10, "cold starts (emulator processes) per function")
)

// figuresCount is how many warm invocations the round trips are counted
// over, in an emulator of their own (the counting proxy stays out of the
// timed runs).
const figuresCount = 20

// A scenario is one function on one request path, invoked repeatedly in one
// emulator process.
type scenario struct {
	name     string
	function string // SAM logical id
	pkg      string
	// setup prepares the world and returns the event of invocation i.
	setup func(t *testing.T, w *world) func(i int) []byte
	// check reports how an invocation failed to do its job ("" if it did).
	check func(res result) string
}

func okResult(res result) string {
	if res.Status != 200 || res.ErrorType != "" {
		return fmt.Sprintf("invocation failed: %v", res)
	}
	return ""
}

func statusIs(code int) func(res result) string {
	return func(res result) string {
		var resp events.LambdaFunctionURLResponse
		if res.Status != 200 || res.ErrorType != "" || json.Unmarshal(res.Body, &resp) != nil || resp.StatusCode != code {
			return fmt.Sprintf("want a Function URL response with status %d, got %v", code, res)
		}
		return ""
	}
}

// invokeChecked invokes and fails the test, with the emulator's output,
// when the invocation did not do its job.
func invokeChecked(t *testing.T, emu *emulator, sc scenario, event []byte) {
	t.Helper()
	if msg := sc.check(emu.invoke(t, event)); msg != "" {
		t.Fatalf("%s: %s\nemulator output:\n%s", sc.name, msg, emu.output())
	}
}

var scenarios = []scenario{
	{
		name: "monitor tick", function: "MonitorFunction", pkg: "./cmd/monitor",
		setup: func(t *testing.T, w *world) func(int) []byte { return func(int) []byte { return tickEvent } },
		check: okResult,
	},
	{
		name: "webhook /quota", function: "WebhookFunction", pkg: "./cmd/webhook",
		setup: func(t *testing.T, w *world) func(int) []byte {
			w.withWebhook(t)
			return func(int) []byte {
				body := say(w, "/quota") // a new message each time: the bot ignores repeats
				sig, _ := chatwork.Sign(webhookToken, body)
				return functionURLRequest(body, sig, false)
			}
		},
		check: statusIs(200),
	},
	{
		name: "webhook /quota, state table", function: "WebhookFunction", pkg: "./cmd/webhook",
		setup: func(t *testing.T, w *world) func(int) []byte {
			w.withWebhook(t).withTable(t)
			return func(int) []byte {
				body := say(w, "/quota")
				sig, _ := chatwork.Sign(webhookToken, body)
				return functionURLRequest(body, sig, false)
			}
		},
		check: statusIs(200),
	},
	{
		name: "webhook alert, state table", function: "WebhookFunction", pkg: "./cmd/webhook",
		setup: func(t *testing.T, w *world) func(int) []byte {
			w.withWebhook(t).withTable(t)
			var ev map[string]any
			if err := json.Unmarshal(readEvent(t, "alarm-state-alarm.json"), &ev); err != nil {
				t.Fatal(err)
			}
			start := time.Now().UTC()
			return func(i int) []byte {
				// A transition of its own each time, each later than the last:
				// every invocation claims, reads the last state and the mutes,
				// posts, and settles.
				ev["detail"].(map[string]any)["state"].(map[string]any)["timestamp"] = start.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000-0700")
				out, _ := json.Marshal(ev)
				return out
			}
		},
		check: okResult,
	},
	{
		name: "webhook alert repeated, state table", function: "WebhookFunction", pkg: "./cmd/webhook",
		setup: func(t *testing.T, w *world) func(int) []byte {
			w.withWebhook(t).withTable(t)
			// The same transition every time: the first is posted, every
			// later one finds it settled (EventBridge's and Lambda's
			// repeated deliveries).
			alert := readEvent(t, "alarm-state-alarm.json")
			return func(int) []byte { return alert }
		},
		check: okResult,
	},
	{
		name: "webhook housekeeping, state table", function: "WebhookFunction", pkg: "./cmd/webhook",
		setup: func(t *testing.T, w *world) func(int) []byte {
			w.withWebhook(t).withTable(t)
			// The schedule's payload every 5 minutes, with no mute ended.
			return func(int) []byte { return []byte(webhookfn.Housekeeping) }
		},
		check: okResult,
	},
	{
		name: "webhook forged", function: "WebhookFunction", pkg: "./cmd/webhook",
		setup: func(t *testing.T, w *world) func(int) []byte {
			w.withWebhook(t)
			body := say(w, "/quota")
			forged := functionURLRequest(body, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false)
			return func(int) []byte { return forged }
		},
		check: statusIs(401),
	},
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(moduleRoot(t), "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// figureRow is one line of README.md's table.
type figureRow struct {
	scenario, target                string
	coldMedian, coldMax, firstInvok float64 // ms
	warmP50, warmP99, warmMax       float64 // ms
	warmN                           int
	peakRSSKiB                      int
	// Round trips: AWS requests by operation and ChatWork calls, of the
	// first invocation and per warm one.
	firstAWS, warmAWS        map[string]float64
	firstChatWork, warmCalls float64
}

// awsCounter stands between a function and moto and counts the AWS
// requests passing through, by operation.
type awsCounter struct {
	url string
	mu  sync.Mutex
	ops map[string]int
}

func startAWSCounter(t *testing.T, endpoint string) *awsCounter {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := &awsCounter{ops: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The JSON protocols name the operation in X-Amz-Target
		// (DynamoDB_20120810.PutItem, Logs_20140328.PutLogEvents,
		// AmazonSSM.GetParameter, AmazonSQS.SendMessage).
		svc, op, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		svc, _, _ = strings.Cut(svc, "_")
		name := strings.TrimPrefix(svc, "Amazon") + " " + op
		if !ok {
			name = r.Method + " " + r.URL.Path
		}
		c.mu.Lock()
		c.ops[name]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// take returns the counts since the last take, each divided by n, and
// starts again.
func (c *awsCounter) take(n int) map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]float64{}
	for op, k := range c.ops {
		out[op] = float64(k) / float64(n)
	}
	c.ops = map[string]int{}
	return out
}

// roundTrips prints counts by operation: "DynamoDB PutItem 1, Logs PutLogEvents 2".
func roundTrips(ops map[string]float64) string {
	if len(ops) == 0 {
		return "none"
	}
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		parts = append(parts, fmt.Sprintf("%s %s", op, strconv.FormatFloat(ops[op], 'f', -1, 64)))
	}
	return strings.Join(parts, ", ")
}

// TestEmulatorFigures measures each function under the emulator: cold start
// (the emulator's INIT REPORT), the first invocation, warm REPORT Durations
// over -figures.warm invocations with the simulator's latency at zero, the
// bootstrap's peak RSS (VmHWM; the emulator's Max Memory Used is only the
// configured memory size), the round trips of the first and of a warm
// invocation (AWS requests by operation, through a counting proxy in front
// of moto, and ChatWork calls) and the stripped linux/arm64 binary sizes.
// It runs only with -figures:
//
//	go test ./e2e -run TestEmulatorFigures -v -figures
func TestEmulatorFigures(t *testing.T) {
	if !*figures {
		t.Skip("measurements run only with -figures (go test ./e2e -run TestEmulatorFigures -v -figures)")
	}
	endpoint := awstest.StartMoto(t)
	dir := t.TempDir()
	rie := buildEmulator(t, dir)

	sizes := map[string]int64{}
	for _, function := range []string{"MonitorFunction", "WebhookFunction"} {
		p := buildArm64(t, function, filepath.Join(dir, "size-"+function))
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sizes[function] = info.Size()
	}
	built := map[string][]target{}
	var rows []figureRow
	for _, sc := range scenarios {
		if built[sc.function] == nil {
			built[sc.function] = targets(t, sc.function, sc.pkg, dir)
		}
		for _, tg := range built[sc.function] {
			t.Run(sc.name+"/"+tg.name, func(t *testing.T) {
				rows = append(rows, measure(t, rie, endpoint, sc, tg))
			})
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n| function, path | run as | cold init median / max (ms) | first invocation (ms) | warm p50 (ms) | warm p99 (ms) | warm max (ms) | peak RSS (MiB) |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.1f / %.1f | %.1f | %.2f | %.2f | %.2f | %.1f |\n",
			r.scenario, r.target, r.coldMedian, r.coldMax, r.firstInvok, r.warmP50, r.warmP99, r.warmMax, float64(r.peakRSSKiB)/1024)
	}
	fmt.Fprintf(&b, "\nwarm figures over %d invocations each; cold over %d emulator processes each\n\n", *figuresWarm, *figuresCold)
	fmt.Fprintf(&b, "| function, path | run as | first invocation: AWS requests | ChatWork calls | each warm invocation: AWS requests | ChatWork calls |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %g | %s | %g |\n", r.scenario, r.target, roundTrips(r.firstAWS), r.firstChatWork, roundTrips(r.warmAWS), r.warmCalls)
	}
	fmt.Fprintf(&b, "\nround trips counted over the first and %d warm invocations, through a counting proxy in front of moto\n\n", figuresCount)
	fmt.Fprintf(&b, "| moto round trip from Go (the stand-in's own cost in the warm figures) | p50 (ms) | p99 (ms) |\n|---|---|---|\n")
	for _, m := range motoRoundTrips(t, endpoint) {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", m.name, m.p50, m.p99)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "| binary (make build-X, linux/arm64, stripped) | bytes | MiB |\n|---|---|---|\n")
	for _, f := range []string{"MonitorFunction", "WebhookFunction"} {
		fmt.Fprintf(&b, "| %s | %d | %.2f |\n", f, sizes[f], float64(sizes[f])/(1<<20))
	}
	t.Log(b.String())
}

func measure(t *testing.T, rie, endpoint string, sc scenario, tg target) figureRow {
	row := figureRow{scenario: sc.name, target: tg.name, warmN: *figuresWarm}
	simCfg := chatworksim.Config{
		// Room for every invocation in one window and one room, so that no
		// answer meets a limit.
		// (The client believes a limit of at most 1,000,000.)
		Limit: 1_000_000, RoomPostLimit: 1 << 30,
	}

	// Cold starts: one emulator process per start, one invocation each.
	var colds []float64
	for range *figuresCold {
		w := newWorld(t, endpoint, simCfg)
		next := sc.setup(t, w)
		emu := startEmulator(t, rie, w.env(), tg.argv...)
		invokeChecked(t, emu, sc, next(0))
		emu.reports(t, 1) // the INIT REPORT line comes before it
		inits := InitDurations(emu.output())
		if len(inits) != 1 {
			t.Fatalf("want 1 INIT REPORT line, got %v\n%s", inits, emu.output())
		}
		colds = append(colds, inits[0])
		emu.Stop()
	}
	slices.Sort(colds)
	row.coldMedian, row.coldMax = percentile(colds, 50), colds[len(colds)-1]

	// Warm: one process, the first invocation (which waits for the init)
	// set apart.
	w := newWorld(t, endpoint, simCfg)
	next := sc.setup(t, w)
	emu := startEmulator(t, rie, w.env(), tg.argv...)
	for i := range *figuresWarm + 1 {
		invokeChecked(t, emu, sc, next(i))
	}
	pid := emu.bootstrapPID()
	if pid == 0 {
		t.Fatal("no bootstrap process under the emulator")
	}
	rss, err := peakRSSKiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	row.peakRSSKiB = rss
	reports := emu.reports(t, *figuresWarm+1)
	row.firstInvok = reports[0].DurationMS
	var warm []float64
	for _, r := range reports[1:] {
		warm = append(warm, r.DurationMS)
	}
	slices.Sort(warm)
	row.warmP50, row.warmP99, row.warmMax = percentile(warm, 50), percentile(warm, 99), warm[len(warm)-1]
	noSecrets(t, map[string]string{"emulator output": emu.output()})
	emu.Stop()

	// Round trips, counted in an emulator of their own whose AWS requests
	// pass through a counting proxy: the first invocation, then the warm
	// ones.
	counter := startAWSCounter(t, endpoint)
	w = newWorld(t, counter.url, simCfg)
	next = sc.setup(t, w)
	counter.take(1) // the world's own setup
	emu = startEmulator(t, rie, w.env(), tg.argv...)
	calls := func() int { return w.sim.Calls(apiToken) - w.sim.OtherCalls(apiToken) }
	invokeChecked(t, emu, sc, next(0))
	row.firstAWS, row.firstChatWork = counter.take(1), float64(calls())
	for i := range figuresCount {
		invokeChecked(t, emu, sc, next(1+i))
	}
	row.warmAWS, row.warmCalls = counter.take(figuresCount), float64(calls()-int(row.firstChatWork))/figuresCount
	return row
}

type roundTrip struct {
	name     string
	p50, p99 float64
}

// motoRoundTrips times the CloudWatch Logs calls the functions make, made
// from this process against moto: PutLogEvents of one record, and
// GetLogEvents of the newest page of a stream holding as many records as
// the /quota scenario leaves behind (two per answer).
func motoRoundTrips(t *testing.T, endpoint string) []roundTrip {
	t.Helper()
	cfg := awstest.Config(t, endpoint)
	client := cloudwatchlogs.NewFromConfig(cfg)
	group := awstest.UniqueName(t, "quotabot-e2e/roundtrips")
	awstest.CreateLogGroup(t, cfg, group)
	ctx := context.Background()
	if _, err := client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	timed := func(name string, n int, call func() error) roundTrip {
		var ds []float64
		for range n {
			start := time.Now()
			if err := call(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, float64(time.Since(start).Microseconds())/1000)
		}
		slices.Sort(ds)
		return roundTrip{name: name, p50: percentile(ds, 50), p99: percentile(ds, 99)}
	}
	put := func() error {
		_, err := client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: &group, LogStreamName: aws.String("s"),
			LogEvents: []cwltypes.InputLogEvent{{Message: aws.String(`{"remaining":1}`), Timestamp: aws.Int64(time.Now().UnixMilli())}},
		})
		return err
	}
	n := 2 * (*figuresWarm + 1)
	out := []roundTrip{timed(fmt.Sprintf("PutLogEvents (1 event, %d times)", n), n, put)}
	out = append(out, timed(fmt.Sprintf("GetLogEvents (newest page of %d events)", n), 100, func() error {
		_, err := client.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: &group, LogStreamName: aws.String("s"), StartFromHead: aws.Bool(false)})
		return err
	}))
	// The state table's calls, through the adapter the webhook uses.
	table := awstest.UniqueName(t, "quotabot-e2e-roundtrips-")
	awstest.CreateStateTable(t, cfg, table)
	st := state.NewDynamo(dynamodb.NewFromConfig(cfg), table)
	i := 0
	out = append(out, timed("DynamoDB PutItem, conditional (a claim)", n, func() error {
		i++
		_, err := st.Claim(ctx, fmt.Sprint(i), time.Now())
		return err
	}))
	out = append(out, timed("DynamoDB PutItem, conditional, refused + GetItem (a duplicate)", 100, func() error {
		_, err := st.Claim(ctx, "1", time.Now())
		return err
	}))
	out = append(out, timed("DynamoDB Query (the mutes)", 100, func() error {
		_, err := st.Mutes(ctx)
		return err
	}))
	return out
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}
