package chatwork_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// Upload against the simulator, which parses the multipart body as a
// server would and keeps the file.

func chartPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 320, 160), color.Palette{color.White, color.Black})
	for x := range 320 {
		img.SetColorIndex(x, 80+x%40, 1)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSimulatorUpload(t *testing.T) {
	sim, c := startSim(t, chatworksim.Config{})
	data := chartPNG(t)
	const message = "[info][title]x[/title]<b>&</b>[/info]"
	u, err := c.Upload(context.Background(), 42, chatwork.File{Name: "quota.png", Data: data, Message: message})
	if err != nil {
		t.Fatal(err)
	}

	files := sim.Files(42)
	if len(files) != 1 {
		t.Fatalf("the room keeps %d files", len(files))
	}
	f := files[0]
	if f.ID != u.FileID || f.AccountID != 777 || f.Name != "quota.png" || f.ContentType != "image/png" || f.Message != message {
		t.Errorf("kept %+v for upload %+v", f, u)
	}
	if !bytes.Equal(f.Data, data) {
		t.Fatalf("kept %d bytes, sent %d: not byte for byte", len(f.Data), len(data))
	}
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil || img.Bounds() != image.Rect(0, 0, 320, 160) {
		t.Fatalf("kept file decodes to %v, %v", img, err)
	}

	// One call, and the quota read from its own answer.
	if c.Calls() != 1 || sim.Calls(simToken) != 1 {
		t.Errorf("Calls() = %d, simulator saw %d; want 1", c.Calls(), sim.Calls(simToken))
	}
	limit, remaining, reset := sim.Quota(simToken)
	if u.Quota == nil || u.Quota.Limit != limit || u.Quota.Remaining != remaining || remaining != 299 || !u.Quota.Reset.Equal(reset) {
		t.Errorf("Uploaded quota %+v, simulator says %d/%d until %v", u.Quota, remaining, limit, reset)
	}

	// The room shows the message as given and the file.
	m := sim.Messages(42)
	if len(m) != 1 || m[0].ID != f.MessageID || !strings.HasPrefix(m[0].Body, message+"\n") || !strings.Contains(m[0].Body, "]quota.png (") {
		t.Errorf("room messages %+v", m)
	}
}

// The client's limit is the simulator's: the largest file goes through, one
// byte more is refused without a request.
func TestSimulatorUploadSizeLimit(t *testing.T) {
	sim, c := startSim(t, chatworksim.Config{})
	big := make([]byte, chatwork.MaxFileBytes)
	if _, err := c.Upload(context.Background(), 42, chatwork.File{Name: "big.png", Data: big}); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{make([]byte, chatwork.MaxFileBytes+1), nil} {
		_, err := c.Upload(context.Background(), 42, chatwork.File{Name: "x.png", Data: data})
		if chatwork.KindOf(err) != chatwork.KindBadRequest {
			t.Errorf("%d bytes: err = %v, want bad_request", len(data), err)
		}
	}
	_, err := c.Upload(context.Background(), 42, chatwork.File{Name: "../x.png", Data: []byte("x")})
	if chatwork.KindOf(err) != chatwork.KindBadRequest {
		t.Errorf("bad name: err = %v, want bad_request", err)
	}
	if c.Calls() != 1 || sim.Calls(simToken) != 1 || len(sim.Files(42)) != 1 {
		t.Errorf("Calls() = %d, simulator saw %d, kept %d files; want 1, 1, 1", c.Calls(), sim.Calls(simToken), len(sim.Files(42)))
	}
}

// An upload is a post: it meets the room's limit, and the 429 is told from
// the token's own.
func TestSimulatorUploadRoomLimit(t *testing.T) {
	_, c := startSim(t, chatworksim.Config{RoomPostLimit: 2})
	ctx := context.Background()
	if _, err := c.Post(ctx, 42, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, 42, chatwork.File{Name: "a.png", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Upload(ctx, 42, chatwork.File{Name: "a.png", Data: []byte("x")})
	if chatwork.KindOf(err) != chatwork.KindRoomLimit {
		t.Fatalf("third post, an upload: err = %v, want room_limit", err)
	}
	if q := chatwork.QuotaOf(err); q == nil || q.Remaining != 297 {
		t.Errorf("QuotaOf = %+v, want 297 remaining", q)
	}
	if c.Calls() != 3 {
		t.Errorf("Calls() = %d, want 3", c.Calls())
	}
}

func TestSimulatorUploadRefused(t *testing.T) {
	ctx := context.Background()
	file := chatwork.File{Name: "a.png", Data: []byte("x")}
	t.Run("unknown token", func(t *testing.T) {
		sim, url := chatworksim.Start(t, chatworksim.Config{})
		sim.AddRoom(42)
		const unknown = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
		c, err := chatwork.New(chatwork.Config{BaseURL: url, Token: chatwork.StaticToken(unknown)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Upload(ctx, 42, file)
		if chatwork.KindOf(err) != chatwork.KindInvalidToken || strings.Contains(err.Error(), unknown) {
			t.Fatalf("err = %v, want invalid_token without the token", err)
		}
		if sim.Calls(unknown) != 1 || len(sim.Files(42)) != 0 {
			t.Errorf("simulator saw %d calls, kept %d files", sim.Calls(unknown), len(sim.Files(42)))
		}
	})
	t.Run("unknown room", func(t *testing.T) {
		_, c := startSim(t, chatworksim.Config{})
		if _, err := c.Upload(ctx, 999, file); chatwork.KindOf(err) != chatwork.KindBadRequest {
			t.Fatalf("err = %v, want bad_request", err)
		}
	})
	t.Run("room limit fault", func(t *testing.T) {
		sim, c := startSim(t, chatworksim.Config{})
		sim.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultRoomLimit, Path: "/v2/rooms/42/files", Count: 1})
		if _, err := c.Post(ctx, 42, "a post is not faulted"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Upload(ctx, 42, file); chatwork.KindOf(err) != chatwork.KindRoomLimit {
			t.Fatalf("err = %v, want room_limit", err)
		}
	})
	t.Run("dropped", func(t *testing.T) {
		sim, c := startSim(t, chatworksim.Config{})
		sim.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultDrop})
		if _, err := c.Upload(ctx, 42, file); chatwork.KindOf(err) != chatwork.KindNetwork {
			t.Fatalf("err = %v, want network", err)
		}
		// Never retried: the upload may have landed.
		if c.Calls() != 1 {
			t.Errorf("Calls() = %d, want 1", c.Calls())
		}
	})
}
