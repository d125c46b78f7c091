package funcurl

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func load(t *testing.T, name string) events.LambdaFunctionURLRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// echo reports what the handler saw.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("Set-Cookie", "a=1")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"method": r.Method,
		"path":   r.URL.Path,
		"query":  r.URL.Query().Get("chatwork_webhook_signature"),
		"sig":    r.Header.Get("X-ChatWorkWebhookSignature"),
		"body":   string(body),
		"remote": r.RemoteAddr,
	})
})

func TestHandlerPlainAndBase64(t *testing.T) {
	for _, name := range []string{"function-url-post.json", "function-url-post-base64.json"} {
		t.Run(name, func(t *testing.T) {
			res, err := Handler(echo)(context.Background(), load(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusAccepted || res.Headers["Content-Type"] != "application/json" || len(res.Cookies) != 1 {
				t.Fatalf("response %+v", res)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"method": "POST", "path": "/", "query": "c2lnbmF0dXJl", "sig": "c2lnbmF0dXJl",
				"body": `{"webhook_event_type":"x"}`, "remote": "203.0.113.7",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestBadBase64IsA400(t *testing.T) {
	ev := load(t, "function-url-post-base64.json")
	ev.Body = "%%%"
	res, err := Handler(echo)(context.Background(), ev)
	if err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDefaultStatusAndBinaryBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte{0xff, 0xfe}) })
	res, _ := Handler(h)(context.Background(), events.LambdaFunctionURLRequest{})
	if res.StatusCode != 200 || !res.IsBase64Encoded || res.Body != "//4=" {
		t.Fatalf("%+v", res)
	}
}
