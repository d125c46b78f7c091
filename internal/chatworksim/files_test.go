package chatworksim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// part is one field of a multipart/form-data body; a file when filename is
// set.
type part struct {
	name, filename, contentType string
	data                        []byte
}

func fileField(name string, data []byte) part {
	return part{name: "file", filename: name, contentType: "image/png", data: data}
}

func messageField(s string) part { return part{name: "message", data: []byte(s)} }

func formBody(t testing.TB, parts ...part) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" {
			cd += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}

// upload sends POST {base}/rooms/{room}/files with parts.
func upload(t testing.TB, c *http.Client, base string, room int64, tok string, parts ...part) result {
	t.Helper()
	body, ct := formBody(t, parts...)
	return send(t, c, http.MethodPost, base+"/rooms/"+strconv.FormatInt(room, 10)+"/files", tok, ct, body)
}

func send(t testing.TB, c *http.Client, method, u, tok, contentType string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-ChatWorkToken", tok)
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func fileID(t testing.TB, r result) int64 {
	t.Helper()
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("upload: %d %v %s", r.status, r.err, r.body)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &v); err != nil || len(v) != 1 {
		t.Fatalf("answer %s: want {\"file_id\": N} only", r.body)
	}
	id, err := strconv.ParseInt(string(v["file_id"]), 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("file_id %s: want a positive JSON number", v["file_id"])
	}
	return id
}

// testPNG is a small PNG that decodes to a known image.
func testPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for x := range 40 {
		img.Set(x, x/2, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUploadFile(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	data := testPNG(t)
	msg := "[info][title]quota[/title]<b>&</b>[/info]"
	r := upload(t, nil, base, roomID, token, fileField("quota.png", data), messageField(msg))
	id := fileID(t, r)
	if limit, rem, reset := r.rate(t); limit != 300 || rem != 299 || reset != t0.Add(5*time.Minute).Unix() {
		t.Errorf("headers %d/%d/%d, want 300/299/%d", limit, rem, reset, t0.Add(5*time.Minute).Unix())
	}
	if got := s.Calls(token); got != 1 {
		t.Errorf("Calls = %d, want 1", got)
	}

	files := s.Files(roomID)
	if len(files) != 1 {
		t.Fatalf("Files = %+v", files)
	}
	f := files[0]
	if f.ID != id || f.RoomID != roomID || f.AccountID != botID || f.Name != "quota.png" || f.ContentType != "image/png" ||
		f.Message != msg || f.SendTime != t0.Unix() || !bytes.Equal(f.Data, data) {
		t.Errorf("File = %+v", f)
	}
	if _, err := png.Decode(bytes.NewReader(f.Data)); err != nil {
		t.Errorf("kept file does not decode: %v", err)
	}

	// The upload is a room message, as ChatWork shows one.
	m := s.Messages(roomID)
	wantBody := msg + "\n[info][title][dtext:file_uploaded][/title][download:" + strconv.FormatInt(id, 10) + "]quota.png (" +
		strconv.FormatFloat(float64(len(data))/1024, 'f', 2, 64) + " KB)[/download][/info]"
	if len(data) < 1024 {
		wantBody = strings.Replace(wantBody, strconv.FormatFloat(float64(len(data))/1024, 'f', 2, 64)+" KB", strconv.Itoa(len(data))+" B", 1)
	}
	if len(m) != 1 || m[0].ID != f.MessageID || m[0].AccountID != botID || m[0].Body != wantBody || m[0].SendTime != t0.Unix() {
		t.Errorf("Messages = %+v, want one with body %q and id %s", m, wantBody, f.MessageID)
	}
}

func TestUploadWithoutMessage(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	id := fileID(t, upload(t, nil, base, roomID, token, fileField("a.png", make([]byte, 3*1024*1024/2))))
	f, m := s.Files(roomID), s.Messages(roomID)
	want := "[info][title][dtext:file_uploaded][/title][download:" + strconv.FormatInt(id, 10) + "]a.png (1.50 MB)[/download][/info]"
	if len(f) != 1 || f[0].Message != "" || len(m) != 1 || m[0].Body != want {
		t.Errorf("file %+v, messages %+v; want body %q", f, m, want)
	}
}

func TestUploadIDsIncrease(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	s.AddRoom(43)
	var last int64
	for i := range 4 {
		room := int64(roomID + i%2) // both rooms share one sequence
		id := fileID(t, upload(t, nil, base, room, token, fileField("f.png", []byte{byte(i)})))
		if id <= last {
			t.Fatalf("upload %d: file_id %d after %d", i, id, last)
		}
		last = id
	}
	if a, b := s.Files(roomID), s.Files(43); len(a) != 2 || len(b) != 2 || a[1].ID <= b[0].ID || a[1].Data[0] != 2 {
		t.Errorf("rooms keep %+v and %+v", a, b)
	}
	if s.Files(99) != nil {
		t.Error("Files of an unknown room is not nil")
	}
}

func TestUploadRefused(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	png := testPNG(t)
	files := base + "/rooms/42/files"
	form := func(parts ...part) func(testing.TB) (io.Reader, string) {
		return func(t testing.TB) (io.Reader, string) { return formBody(t, parts...) }
	}
	tests := []struct {
		name   string
		method string
		url    string
		body   func(testing.TB) (io.Reader, string)
		status int
		errors string // the first error, when set
	}{
		{"no file", "POST", files, form(messageField("hi")), 400, "Parameter file is required"},
		{"no fields", "POST", files, form(), 400, "Parameter file is required"},
		{"file without a filename", "POST", files, form(part{name: "file", data: png}), 400, "Parameter file is required"},
		{"empty file", "POST", files, form(fileField("a.png", nil)), 400, "Parameter file is empty"},
		{"over the limit", "POST", files, form(fileField("a.png", make([]byte, chatwork.MaxFileBytes+1))), 400,
			"Parameter file is too large (max " + strconv.Itoa(chatwork.MaxFileBytes) + " bytes)"},
		{"message too long", "POST", files, form(fileField("a.png", png), messageField(strings.Repeat("あ", 65536))), 400,
			"Parameter message is too long (max 65535 characters)"},
		{"not multipart", "POST", files, func(testing.TB) (io.Reader, string) {
			return strings.NewReader(url.Values{"file": {"x"}}.Encode()), "application/x-www-form-urlencoded"
		}, 400, "Invalid request body"},
		{"broken multipart", "POST", files, func(testing.TB) (io.Reader, string) {
			return strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc"), "multipart/form-data; boundary=b"
		}, 400, "Invalid request body"},
		{"unknown room", "POST", base + "/rooms/99/files", form(fileField("a.png", png)), 404, "Resource not found"},
		{"bad room id", "POST", base + "/rooms/x/files", form(fileField("a.png", png)), 400, "Invalid room_id"},
		{"listing is not modelled", "GET", files, nil, 405, "Method not allowed"},
	}
	want := 300
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			var ct string
			if tc.body != nil {
				body, ct = tc.body(t)
			}
			r := send(t, nil, tc.method, tc.url, token, ct, body)
			if r.err != nil || r.status != tc.status {
				t.Fatalf("status %d (%v), want %d: %s", r.status, r.err, tc.status, r.body)
			}
			if e := errorsOf(t, r.body); e[0] != tc.errors {
				t.Errorf("errors %q, want %q", e, tc.errors)
			}
			want--
			if _, rem, _ := r.rate(t); rem != want {
				t.Errorf("remaining %d, want %d: every request counts", rem, want)
			}
		})
	}
	if f, m := s.Files(roomID), s.Messages(roomID); len(f) != 0 || len(m) != 0 {
		t.Errorf("refused uploads left files %d, messages %d", len(f), len(m))
	}
	// The largest file is accepted.
	big := make([]byte, chatwork.MaxFileBytes)
	big[len(big)-1] = 7
	fileID(t, upload(t, nil, base, roomID, token, fileField("big.png", big)))
	if f := s.Files(roomID); len(f) != 1 || !bytes.Equal(f[0].Data, big) {
		t.Errorf("largest file not kept whole")
	}
}

// The first file and message count; more of either are ignored, and so are
// other fields.
func TestUploadRepeatedFields(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	fileID(t, upload(t, nil, base, roomID, token,
		part{name: "other", data: []byte("x")}, fileField("one.png", []byte("1")), messageField("first"),
		fileField("two.png", []byte("2")), messageField("second")))
	if f := s.Files(roomID); len(f) != 1 || f[0].Name != "one.png" || string(f[0].Data) != "1" || f[0].Message != "first" {
		t.Errorf("Files = %+v", f)
	}
}

func TestUploadUnknownToken(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	// A body larger than a server discards on its own: the answer arrives.
	r := upload(t, nil, base, roomID, "nope", fileField("a.png", make([]byte, 2<<20)))
	if r.err != nil || r.status != 401 {
		t.Fatalf("status %d (%v)", r.status, r.err)
	}
	if e := errorsOf(t, r.body); e[0] != "Invalid API token" || hasRateHeaders(r.header) {
		t.Errorf("errors %q, headers %v", e, r.header)
	}
	if s.Calls("nope") != 1 || len(s.Files(roomID)) != 0 {
		t.Errorf("Calls %d, files %d", s.Calls("nope"), len(s.Files(roomID)))
	}
}

// Uploads and posts share the room's posting limit and its 429.
func TestUploadRoomPostLimit(t *testing.T) {
	for _, noHeaders := range []bool{false, true} {
		t.Run("RoomLimitNoHeaders="+strconv.FormatBool(noHeaders), func(t *testing.T) {
			s, base, clock := start(t, chatworksim.Config{RoomLimitNoHeaders: noHeaders})
			for i := range 10 {
				var r result
				if i%2 == 0 {
					r = upload(t, nil, base, roomID, token, fileField("a.png", []byte("x")))
				} else {
					r = call(t, nil, "POST", base+"/rooms/42/messages", token, url.Values{"body": {"x"}})
				}
				if r.status != 200 {
					t.Fatalf("post %d: %d %s", i, r.status, r.body)
				}
				// A refused upload is not a post.
				if r := upload(t, nil, base, roomID, token, fileField("a.png", nil)); r.status != 400 {
					t.Fatalf("empty file: %d", r.status)
				}
				clock.Advance(time.Second / 2)
			}
			r := upload(t, nil, base, roomID, token, fileField("a.png", []byte("x")))
			if r.status != 429 {
				t.Fatalf("11th post, an upload: %d %s", r.status, r.body)
			}
			if e := errorsOf(t, r.body); e[0] != "Rate limit for message posting per room exceeded." {
				t.Errorf("errors %q", e)
			}
			if hasRateHeaders(r.header) == noHeaders {
				t.Errorf("headers %v with RoomLimitNoHeaders=%v", r.header, noHeaders)
			}
			if r := call(t, nil, "POST", base+"/rooms/42/messages", token, url.Values{"body": {"x"}}); r.status != 429 {
				t.Errorf("a post after the uploads: %d", r.status)
			}
			if f, m := len(s.Files(roomID)), len(s.Messages(roomID)); f != 5 || m != 10 {
				t.Errorf("%d files, %d messages; want 5, 10", f, m)
			}
			if got := s.Calls(token); got != 22 {
				t.Errorf("Calls = %d, want 22: refusals count", got)
			}
			clock.Advance(5 * time.Second) // the first post leaves the window
			fileID(t, upload(t, nil, base, roomID, token, fileField("a.png", []byte("x"))))
		})
	}
}

func TestUploadFaults(t *testing.T) {
	png := testPNG(t)
	tests := []struct {
		name   string
		fault  chatworksim.Fault
		status int
	}{
		{"room limit on files", chatworksim.Fault{Kind: chatworksim.FaultRoomLimit, Path: "/v2/rooms/42/files", Count: 1}, 429},
		{"status", chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 503, Count: 1}, 503},
		{"no headers", chatworksim.Fault{Kind: chatworksim.FaultNoHeaders, Count: 1}, 200},
		{"drop", chatworksim.Fault{Kind: chatworksim.FaultDrop, Count: 1}, 0},
		{"another path", chatworksim.Fault{Kind: chatworksim.FaultStatus, Path: "/v2/rooms/42/messages"}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base, _ := start(t, chatworksim.Config{})
			s.InjectFault(tc.fault)
			// Larger than a server discards on its own.
			r := upload(t, nil, base, roomID, token, fileField("a.png", append(png, make([]byte, 1<<20)...)))
			switch {
			case tc.status == 0 && r.err == nil:
				t.Fatalf("status %d, want an error", r.status)
			case tc.status != 0 && (r.err != nil || r.status != tc.status):
				t.Fatalf("status %d (%v), want %d", r.status, r.err, tc.status)
			}
			if n := len(s.Files(roomID)); (tc.status == 200) != (n == 1) {
				t.Errorf("%d files kept after %d", n, tc.status)
			}
			if s.Calls(token) != 1 {
				t.Errorf("Calls = %d, want 1", s.Calls(token))
			}
		})
	}
}

func TestFileHistoryBounded(t *testing.T) {
	s, base, clock := start(t, chatworksim.Config{FileHistory: 3})
	for i := range 10 {
		fileID(t, upload(t, nil, base, roomID, token, fileField("f.png", []byte{byte(i)})))
		clock.Advance(2 * time.Second)
	}
	f := s.Files(roomID)
	if len(f) < 3 || len(f) >= 6 || f[len(f)-1].Data[0] != 9 {
		t.Fatalf("kept %d files, last %+v", len(f), f[len(f)-1])
	}
}

// Room webhooks see an upload like any message.
func TestUploadWebhook(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	rc, hookURL := newReceiver(t)
	if err := s.AddWebhook(chatworksim.Webhook{URL: hookURL, Token: webhookToken, RoomID: roomID}); err != nil {
		t.Fatal(err)
	}
	fileID(t, upload(t, nil, base, roomID, token, fileField("a.png", []byte("x")), messageField("[To:7] chart")))
	waitIdle(t, s)
	_, events := rc.received()
	m := s.Messages(roomID)
	if len(events) != 1 || len(m) != 1 || events[0].MessageID != m[0].ID || events[0].Body != m[0].Body || events[0].AccountID != botID {
		t.Errorf("events %+v for messages %+v", events, m)
	}
}

// Through Transport, as the bot's in-process tests call it.
func TestUploadInProcess(t *testing.T) {
	s := chatworksim.New(chatworksim.Config{Clock: chatworksim.NewFakeClock(t0)})
	s.AddAccount(token, botID, "Bot")
	s.AddRoom(roomID)
	c := &http.Client{Transport: s.Transport()}
	data := testPNG(t)
	fileID(t, upload(t, c, "http://chatwork.invalid/v2", roomID, token, fileField("q.png", data)))
	if f := s.Files(roomID); len(f) != 1 || !bytes.Equal(f[0].Data, data) {
		t.Errorf("Files = %+v", f)
	}
	// A GET has no body to read: nothing breaks.
	if r := send(t, c, "GET", "http://chatwork.invalid/v2/me", "nope", "", nil); r.status != 401 {
		t.Errorf("GET /me with an unknown token: %d %v", r.status, r.err)
	}
}
