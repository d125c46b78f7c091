package chatwork

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gochatwork "github.com/griffin-stewie/go-chatwork"
)

// MaxFileBytes is the largest file ChatWork accepts in an upload. Its
// documentation says 5 MB without saying which megabyte; 5,000,000 bytes is
// the reading that neither kind of server refuses.
const MaxFileBytes = 5_000_000

// File is a file to upload into a room, with the message that goes with it.
type File struct {
	Name    string // the file's name in the room, e.g. "quota.png"
	Data    []byte // 1 byte to MaxFileBytes
	Message string // optional; sent as it is, ChatWork's message markup included
}

// Uploaded is ChatWork's answer to an upload.
type Uploaded struct {
	At     time.Time
	FileID int64
	Quota  *Quota // nil when the response carried no usable rate-limit headers
}

// Upload posts f into the room: POST /rooms/{room_id}/files, a
// multipart/form-data body with the field file (typed by its name's
// extension) and, when f.Message is set, the field message. Like Post it
// sends one request and never retries. It does not use go-chatwork's
// PostRoomFile, which HTML-escapes the message (so that ChatWork's [info]
// and [To:id] markup would arrive as text), sends the message field even
// when it is empty, types every file application/octet-stream and returns
// the answer unread (upload_test.go shows each).
func (c *Client) Upload(ctx context.Context, roomID int64, f File) (Uploaded, error) {
	const op = "upload file"
	bad := func(err error) (Uploaded, error) { return Uploaded{}, &Error{Op: op, Kind: KindBadRequest, Err: err} }
	switch {
	case roomID <= 0:
		return bad(fmt.Errorf("invalid room id %d", roomID))
	case len(f.Data) == 0 || len(f.Data) > MaxFileBytes:
		return bad(fmt.Errorf("file has %d bytes, want 1 to %d", len(f.Data), MaxFileBytes))
	case !plainName(f.Name):
		return bad(errors.New("file name must be a plain, non-empty name"))
	case !utf8.ValidString(f.Message) || utf8.RuneCountInString(f.Message) > MaxMessageRunes:
		return bad(fmt.Errorf("message must be valid UTF-8 of at most %d characters", MaxMessageRunes))
	}
	body, contentType, err := multipartBody(f)
	if err != nil {
		return bad(err)
	}
	room := strconv.FormatInt(roomID, 10)
	var raw []byte
	ex, err := c.send(ctx, op, func(gc *gochatwork.Client) error {
		req, err := http.NewRequest(http.MethodPost, gc.BaseURL+"/rooms/"+room+"/files", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-ChatWorkToken", gc.APIKey)
		req.Header.Set("Content-Type", contentType)
		resp, err := gc.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		return Uploaded{}, err
	}
	q := quotaFrom(ex.header, ex.at)
	var v struct {
		FileID json.Number `json:"file_id"`
	}
	id, err := int64(0), json.Unmarshal(raw, &v)
	if err == nil {
		id, err = v.FileID.Int64()
	}
	if err != nil || id <= 0 {
		return Uploaded{}, &Error{Op: op, Kind: KindBadResponse, Status: ex.status, Quota: q, Err: errors.New("response has no file_id")}
	}
	return Uploaded{At: ex.at, FileID: id, Quota: q}, nil
}

// multipartBody encodes f as ChatWork's upload form.
func multipartBody(f File) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.Name))
	h.Set("Content-Type", contentTypeOf(f.Name))
	part, err := w.CreatePart(h)
	if err == nil {
		_, err = part.Write(f.Data)
	}
	if err == nil && f.Message != "" {
		err = w.WriteField("message", f.Message)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, "", fmt.Errorf("encode the upload: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// plainName reports whether name can be sent as it is in the quoted
// filename of a Content-Disposition header: valid UTF-8 of printable
// characters (so %q writes it unescaped), without a quote, a backslash or a
// slash (a server may cut a path down to its last element).
func plainName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, `"\/`) {
		return false
	}
	for _, r := range name {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// contentTypeOf types a file by its name's extension, as ChatWork shows a
// preview of the image types only.
func contentTypeOf(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	}
	return "application/octet-stream"
}
