package chatworksim

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// File is a file as it was uploaded into a room, kept byte for byte so that
// tests can decode it.
type File struct {
	ID          int64
	RoomID      int64
	AccountID   int64
	MessageID   string // the room message that shows the file
	Name        string // the part's filename, as sent
	ContentType string // the part's Content-Type, as sent ("" when none)
	Data        []byte
	Message     string // the message field, as sent ("" when none)
	SendTime    int64  // Unix seconds
}

// Files returns the files the room keeps (at least the last
// Config.FileHistory), oldest first; nil for an unknown room. The Data
// slices are the Server's own: do not modify them.
func (s *Server) Files(roomID int64) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return nil
	}
	return append([]File(nil), r.files...)
}

// maxUploadBody bounds an upload's request body: the largest file, a
// message of maxBodyChars characters of up to 4 UTF-8 bytes, and the
// multipart framing.
const maxUploadBody = chatwork.MaxFileBytes + 4*maxBodyChars + 64<<10

// upload is what an upload request carried, or why it was refused.
type upload struct {
	name, contentType string
	data              []byte
	message           string
	bad               string // non-empty: the 400's error text
}

// uploadFile answers POST /rooms/{room_id}/files.
//
// An accepted upload is a post: it counts toward the room's posting limit,
// as ChatWork's documentation does not say whether it does and the stricter
// model is the safer one to test against. It lands as a room message, so the
// room's readers and webhooks see it.
func (s *Server) uploadFile(req *http.Request, a *account, roomID int64, now time.Time) reply {
	up := readUpload(req)

	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	switch {
	case r == nil:
		return replyNotFound
	case up.bad != "":
		return errorReply(http.StatusBadRequest, up.bad)
	case !s.allowPost(r, now.UnixNano()):
		rep := replyRoomLimit
		rep.noHeaders = s.cfg.RoomLimitNoHeaders
		return rep
	}
	s.lastFile++
	f := File{
		ID:          s.lastFile,
		RoomID:      roomID,
		AccountID:   a.id,
		Name:        up.name,
		ContentType: up.contentType,
		Data:        up.data,
		Message:     up.message,
		SendTime:    now.Unix(),
	}
	f.MessageID = s.landLocked(r, a.id, uploadBody(f), now).ID
	r.files = appendKeep(r.files, f, s.cfg.FileHistory)
	b := append([]byte(`{"file_id":`), strconv.FormatInt(f.ID, 10)...)
	return reply{status: http.StatusOK, body: append(b, '}')}
}

// readUpload reads a multipart/form-data upload: the field file (required,
// 1 byte to chatwork.MaxFileBytes, with a filename) and the optional field
// message. Other fields are ignored, and so is a second file.
//
// A file over the limit is refused with 400, not 413: ChatWork documents
// the 5 MB limit as a limit of the file parameter, and its API answers
// invalid parameters (an empty or too long message body among them) with
// 400 and its {"errors":[...]} body; no 413 appears in its documentation.
// A client must not depend on either: both are 4xx.
func readUpload(req *http.Request) upload {
	req.Body = http.MaxBytesReader(nil, req.Body, maxUploadBody)
	mr, err := req.MultipartReader()
	if err != nil {
		return upload{bad: "Invalid request body"}
	}
	var up upload
	haveFile, haveMessage := false, false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tooLargeOr(err, "Invalid request body")
		}
		switch p.FormName() {
		case "file":
			if haveFile {
				continue
			}
			haveFile = true
			_, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			up.name = params["filename"]
			up.contentType = p.Header.Get("Content-Type")
			up.data, err = io.ReadAll(io.LimitReader(p, chatwork.MaxFileBytes+1))
			if err != nil {
				return tooLargeOr(err, "Invalid request body")
			}
			if len(up.data) > chatwork.MaxFileBytes {
				return upload{bad: fileTooLarge}
			}
		case "message":
			if haveMessage {
				continue
			}
			haveMessage = true
			b, err := io.ReadAll(io.LimitReader(p, 4*maxBodyChars+1))
			if err != nil {
				return tooLargeOr(err, "Invalid request body")
			}
			up.message = string(b)
			if len(b) > 4*maxBodyChars || utf8.RuneCountInString(up.message) > maxBodyChars {
				return upload{bad: "Parameter message is too long (max 65535 characters)"}
			}
		}
	}
	switch {
	case !haveFile || up.name == "":
		up.bad = "Parameter file is required"
	case len(up.data) == 0:
		up.bad = "Parameter file is empty"
	}
	return up
}

var fileTooLarge = fmt.Sprintf("Parameter file is too large (max %d bytes)", chatwork.MaxFileBytes)

// tooLargeOr refuses a body that ran past maxUploadBody as too large, and
// anything else that broke the multipart reading with msg.
func tooLargeOr(err error, msg string) upload {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return upload{bad: fileTooLarge}
	}
	return upload{bad: msg}
}

// uploadBody is the message an upload lands as. ChatWork's layout is known
// only from the bodies its public clients parse:
//
//	[info][title][dtext:file_uploaded][/title][download:ID]NAME (SIZE)[/download][/info]
//
// The message, when there is one, comes first on a line of its own; that
// order and the exact size text are unconfirmed.
func uploadBody(f File) string {
	b := make([]byte, 0, len(f.Message)+len(f.Name)+96)
	if f.Message != "" {
		b = append(b, f.Message...)
		b = append(b, '\n')
	}
	b = append(b, "[info][title][dtext:file_uploaded][/title][download:"...)
	b = strconv.AppendInt(b, f.ID, 10)
	b = append(b, ']')
	b = append(b, f.Name...)
	b = append(b, " ("...)
	b = append(b, fileSize(len(f.Data))...)
	b = append(b, ")[/download][/info]"...)
	return string(b)
}

// fileSize is n bytes as ChatWork labels a file: "512 B", "54.00 KB", "1.20 MB".
func fileSize(n int) string {
	switch {
	case n < 1<<10:
		return strconv.Itoa(n) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 2, 64) + " KB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) + " MB"
}
