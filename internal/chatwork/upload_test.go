package chatwork

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gochatwork "github.com/griffin-stewie/go-chatwork"
)

// received is an upload as a server read it.
type received struct {
	method, uri, token, userAgent string
	mediaType                     string // the request's, without parameters
	fileName                      string // the file part's filename, unaltered
	fileType                      string // the file part's Content-Type
	data                          []byte
	message                       string
	hasMessage                    bool
	fields                        []string // form names in order
}

// readUpload reads r's multipart body without interpreting it: the file
// name as written, not cut to a base name as multipart.Part.FileName does.
func readUpload(t *testing.T, r *http.Request) received {
	t.Helper()
	got := received{method: r.Method, uri: r.RequestURI, token: r.Header.Get("X-ChatWorkToken"), userAgent: r.Header.Get("User-Agent")}
	got.mediaType, _, _ = mime.ParseMediaType(r.Header.Get("Content-Type"))
	mr, err := r.MultipartReader()
	if err != nil {
		t.Errorf("request body: %v", err)
		return got
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Errorf("request body: %v", err)
			return got
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Errorf("request body: %v", err)
		}
		got.fields = append(got.fields, p.FormName())
		switch p.FormName() {
		case "file":
			_, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			got.fileName, got.fileType, got.data = params["filename"], p.Header.Get("Content-Type"), b
		case "message":
			got.message, got.hasMessage = string(b), true
		}
	}
}

// uploadServer answers every upload with answer and the quota headers, and
// keeps what it read.
type uploadServer struct {
	*server
	mu  sync.Mutex
	got []received
}

func newUploadServer(t *testing.T, status int, answer string) *uploadServer {
	t.Helper()
	us := &uploadServer{}
	us.server = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got := readUpload(t, r)
		us.mu.Lock()
		us.got = append(us.got, got)
		us.mu.Unlock()
		setQuota(w.Header(), 300, 123, testReset.Unix())
		w.WriteHeader(status)
		io.WriteString(w, answer)
	})
	return us
}

func (us *uploadServer) last(t *testing.T) received {
	t.Helper()
	us.mu.Lock()
	defer us.mu.Unlock()
	if len(us.got) == 0 {
		t.Fatal("the server got no upload")
	}
	return us.got[len(us.got)-1]
}

var (
	pngBytes = []byte("\x89PNG\r\n\x1a\n fake but typed by its name")
	markup   = "[info][title]x[/title]<b>&</b>[/info]"
)

func TestUploadRequest(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":1234}`)
	c := newClient(t, srv.URL)
	u, err := c.Upload(context.Background(), 42, File{Name: "quota.png", Data: pngBytes, Message: markup})
	if err != nil {
		t.Fatal(err)
	}
	want := Quota{Limit: 300, Remaining: 123, Reset: testReset}
	if u.FileID != 1234 || u.Quota == nil || *u.Quota != want || !u.At.Equal(testReset.Add(-4*time.Minute)) {
		t.Errorf("Uploaded = %+v (quota %+v)", u, u.Quota)
	}
	got := srv.last(t)
	if got.method != http.MethodPost || got.uri != "/v2/rooms/42/files" || got.token != testToken || got.userAgent != UserAgent {
		t.Errorf("request %s %s, token %q, User-Agent %q", got.method, got.uri, got.token, got.userAgent)
	}
	if got.mediaType != "multipart/form-data" || got.fileName != "quota.png" || !bytes.Equal(got.data, pngBytes) ||
		got.message != markup || strings.Join(got.fields, ",") != "file,message" {
		t.Errorf("received %+v", got)
	}
	if n := srv.requests.Load(); n != 1 || c.Calls() != 1 {
		t.Errorf("server saw %d requests, Calls() = %d; want 1, 1", n, c.Calls())
	}
}

// upstreamUpload is go-chatwork's PostRoomFile against srv.
func upstreamUpload(t *testing.T, srv *uploadServer, f File) []byte {
	t.Helper()
	gc := gochatwork.NewClient(testToken)
	gc.BaseURL = srv.URL + "/v2"
	raw, err := gc.PostRoomFile("42", f.Message, f.Name, bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("PostRoomFile: %v", err)
	}
	return raw
}

// Each test below shows one way go-chatwork's PostRoomFile differs, and
// that Upload does not.

func TestUploadDoesNotEscapeTheMessage(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":1}`)
	f := File{Name: "a.png", Data: pngBytes, Message: markup}
	upstreamUpload(t, srv, f)
	if got := srv.last(t).message; got != "[info][title]x[/title]&lt;b&gt;&amp;&lt;/b&gt;[/info]" {
		t.Errorf("go-chatwork sent the message %q: it no longer HTML-escapes it", got)
	}
	if _, err := newClient(t, srv.URL).Upload(context.Background(), 42, f); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t).message; got != markup {
		t.Errorf("Upload sent the message %q, want %q", got, markup)
	}
}

func TestUploadTypesTheFile(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":1}`)
	upstreamUpload(t, srv, File{Name: "a.png", Data: pngBytes})
	if got := srv.last(t).fileType; got != "application/octet-stream" {
		t.Errorf("go-chatwork typed a PNG %q: it no longer types every file as octet-stream", got)
	}
	c := newClient(t, srv.URL)
	for name, want := range map[string]string{
		"a.png": "image/png", "A.PNG": "image/png", "a.jpg": "image/jpeg", "a.jpeg": "image/jpeg",
		"a.gif": "image/gif", "a.csv": "application/octet-stream", "png": "application/octet-stream",
	} {
		if _, err := c.Upload(context.Background(), 42, File{Name: name, Data: pngBytes}); err != nil {
			t.Fatal(err)
		}
		if got := srv.last(t); got.fileType != want || got.fileName != name {
			t.Errorf("%s: typed %q, named %q; want %q", name, got.fileType, got.fileName, want)
		}
	}
}

func TestUploadDecodesTheAnswer(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id": 1234}`)
	if raw := upstreamUpload(t, srv, File{Name: "a.png", Data: pngBytes}); string(raw) != `{"file_id": 1234}` {
		t.Errorf("go-chatwork returned %q: it no longer returns the raw answer", raw)
	}
	u, err := newClient(t, srv.URL).Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes})
	if err != nil || u.FileID != 1234 || u.Quota == nil {
		t.Errorf("Upload = %+v, %v; want file 1234 and the quota", u, err)
	}
}

func TestUploadOmitsAnEmptyMessage(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":1}`)
	upstreamUpload(t, srv, File{Name: "a.png", Data: pngBytes})
	if got := srv.last(t); !got.hasMessage || got.message != "" {
		t.Errorf("go-chatwork sent message=%v %q: it no longer sends an empty message field", got.hasMessage, got.message)
	}
	if _, err := newClient(t, srv.URL).Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes}); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t); got.hasMessage || strings.Join(got.fields, ",") != "file" {
		t.Errorf("Upload sent the fields %v", got.fields)
	}
}

func TestUploadNonASCIIName(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":1}`)
	if _, err := newClient(t, srv.URL).Upload(context.Background(), 42, File{Name: "残量 グラフ.png", Data: pngBytes}); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t); got.fileName != "残量 グラフ.png" || got.fileType != "image/png" {
		t.Errorf("received name %q, type %q", got.fileName, got.fileType)
	}
}

func TestUploadBadAnswer(t *testing.T) {
	for _, answer := range []string{
		`{}`, `{"file_id":0}`, `{"file_id":-3}`, `{"file_id":1.5}`, `{"file_id":"abc"}`, `{"file_id":null}`,
		`{"message_id":"12"}`, `not JSON`, ``, `[1234]`,
	} {
		srv := newUploadServer(t, 200, answer)
		c := newClient(t, srv.URL)
		_, err := c.Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes})
		e := wantErr(t, err, KindBadResponse)
		if e.Status != 200 || e.Op != "upload file" || e.Quota == nil || e.Quota.Remaining != 123 {
			t.Errorf("%q: Status %d, Op %q, Quota %+v", answer, e.Status, e.Op, e.Quota)
		}
		if c.Calls() != 1 {
			t.Errorf("%q: Calls() = %d", answer, c.Calls())
		}
	}
	// ChatWork's ids are numbers; one written as a string still reads.
	srv := newUploadServer(t, 200, `{"file_id":"77"}`)
	if u, err := newClient(t, srv.URL).Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes}); err != nil || u.FileID != 77 {
		t.Errorf("Upload = %+v, %v", u, err)
	}
}

func TestUploadErrorKinds(t *testing.T) {
	cases := []struct {
		status int
		body   string
		kind   Kind
		text   string
	}{
		{429, `{"errors":["` + roomLimitMessage + `"]}`, KindRoomLimit, roomLimitMessage},
		{429, `{"errors":["Rate limit exceeded"]}`, KindQuotaExhausted, ""},
		{400, `{"errors":["Parameter file is too large"]}`, KindBadRequest, "too large"},
		{413, `<html>Request Entity Too Large</html>`, KindBadRequest, ""},
		{400, `{"errors":["token ` + testToken + ` is not allowed here"]}`, KindBadRequest, "token [token] is not"},
		{503, ``, KindServer, ""},
	}
	for _, tc := range cases {
		srv := newUploadServer(t, tc.status, tc.body)
		c := newClient(t, srv.URL)
		_, err := c.Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes})
		e := wantErr(t, err, tc.kind) // also: the token is in no error
		if e.Status != tc.status || e.Op != "upload file" || e.Quota == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%d %s: %v (status %d, quota %+v)", tc.status, tc.body, err, e.Status, e.Quota)
		}
		// Like Post, an upload is never retried.
		if n := srv.requests.Load(); n != 1 || c.Calls() != 1 {
			t.Errorf("%d: server saw %d requests, Calls() = %d; want 1, 1", tc.status, n, c.Calls())
		}
	}
}

// After a 401 a rotated token is tried once, with the whole file again.
func TestUploadInvalidTokenRefresh(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":5}`)
	src := &rotatingToken{tokens: []string{"stale-token-0000", testToken}}
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Token = src })
	u, err := c.Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes, Message: "m"})
	if err != nil || u.FileID != 5 {
		t.Fatalf("Upload = %+v, %v", u, err)
	}
	if got := srv.last(t); !bytes.Equal(got.data, pngBytes) || got.message != "m" || c.Calls() != 2 || src.invalidated != 1 {
		t.Errorf("second attempt got %+v; Calls() = %d, invalidated %d", got, c.Calls(), src.invalidated)
	}
}

func TestUploadInvalidTokenIsNotInTheError(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a known token reached the handler") })
	const other = "5e4d3c2b1a09f8e7d6c5b4a392817065"
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Token = StaticToken(other) })
	_, err := c.Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes})
	if e := wantErr(t, err, KindInvalidToken); e.Status != 401 || strings.Contains(err.Error(), other) {
		t.Errorf("err = %v", err)
	}
}

func TestUploadNetworkFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	c := newClient(t, url)
	_, err = c.Upload(context.Background(), 42, File{Name: "a.png", Data: pngBytes})
	if e := wantErr(t, err, KindNetwork); e.Status != 0 || c.Calls() != 1 {
		t.Errorf("err = %v, Calls() = %d", err, c.Calls())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = newClient(t, url)
	_, err = c.Upload(ctx, 42, File{Name: "a.png", Data: pngBytes})
	wantErr(t, err, KindNetwork)
	if !errors.Is(err, context.Canceled) || c.Calls() != 0 {
		t.Errorf("canceled: err = %v, Calls() = %d", err, c.Calls())
	}
}

func TestUploadValidatesBeforeSending(t *testing.T) {
	srv := newUploadServer(t, 200, `{"file_id":1}`)
	ok := File{Name: "a.png", Data: pngBytes}
	with := func(edit func(*File)) File { f := ok; edit(&f); return f }
	cases := []struct {
		name string
		room int64
		file File
	}{
		{"room 0", 0, ok},
		{"negative room", -1, ok},
		{"empty file", 42, with(func(f *File) { f.Data = nil })},
		{"over the limit", 42, with(func(f *File) { f.Data = make([]byte, MaxFileBytes+1) })},
		{"no name", 42, with(func(f *File) { f.Name = "" })},
		{"a path", 42, with(func(f *File) { f.Name = "charts/a.png" })},
		{"a Windows path", 42, with(func(f *File) { f.Name = `charts\a.png` })},
		{"a quote", 42, with(func(f *File) { f.Name = `a".png` })},
		{"a newline", 42, with(func(f *File) { f.Name = "a\r\nX-Injected: 1\r\n.png" })},
		{"a tab", 42, with(func(f *File) { f.Name = "a\t.png" })},
		{"a NUL", 42, with(func(f *File) { f.Name = "a\x00.png" })},
		{"an invisible character", 42, with(func(f *File) { f.Name = "a\u200b.png" })},
		{"name not UTF-8", 42, with(func(f *File) { f.Name = "a\xff.png" })},
		{"message not UTF-8", 42, with(func(f *File) { f.Message = "\xff" })},
		{"message too long", 42, with(func(f *File) { f.Message = strings.Repeat("あ", MaxMessageRunes+1) })},
	}
	for _, tc := range cases {
		c := newClient(t, srv.URL)
		_, err := c.Upload(context.Background(), tc.room, tc.file)
		if e := wantErr(t, err, KindBadRequest); e.Status != 0 || e.Op != "upload file" {
			t.Errorf("%s: %v", tc.name, err)
		}
		if c.Calls() != 0 {
			t.Errorf("%s: Calls() = %d, want 0", tc.name, c.Calls())
		}
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
	// The limits themselves are allowed.
	c := newClient(t, srv.URL)
	big := with(func(f *File) { f.Data, f.Message = make([]byte, MaxFileBytes), strings.Repeat("あ", MaxMessageRunes) })
	if _, err := c.Upload(context.Background(), 42, big); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t); len(got.data) != MaxFileBytes || got.message != big.Message {
		t.Errorf("received %d bytes and a %d-byte message", len(got.data), len(got.message))
	}
}
