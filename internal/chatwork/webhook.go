package chatwork

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Webhook event types ChatWork sends.
const (
	EventMessageCreated = "message_created"
	EventMessageUpdated = "message_updated"
	EventMentionToMe    = "mention_to_me"
)

// WebhookPayload is the JSON body of a webhook delivery.
type WebhookPayload struct {
	SettingID string          `json:"webhook_setting_id"`
	EventType string          `json:"webhook_event_type"`
	EventTime int64           `json:"webhook_event_time"`
	Event     json.RawMessage `json:"webhook_event"`
}

// WebhookEvent is the union of the message and mention event members.
// Message events fill AccountID; mention_to_me fills FromAccountID and
// ToAccountID instead.
type WebhookEvent struct {
	MessageID     string `json:"message_id"`
	RoomID        int64  `json:"room_id"`
	AccountID     int64  `json:"account_id,omitempty"`
	FromAccountID int64  `json:"from_account_id,omitempty"`
	ToAccountID   int64  `json:"to_account_id,omitempty"`
	Body          string `json:"body"`
	SendTime      int64  `json:"send_time"`
	UpdateTime    int64  `json:"update_time"`
}

// Sender is the account that wrote the message, whichever event carried it.
func (e WebhookEvent) Sender() int64 {
	if e.AccountID != 0 {
		return e.AccountID
	}
	return e.FromAccountID
}

// decodeWebhookToken decodes the base64 webhook token ChatWork shows in its
// webhook settings. The error never includes the token.
func decodeWebhookToken(token string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(token)
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook token is not valid base64")
	}
	return key, nil
}

// Sign computes ChatWork's webhook signature of body: HMAC-SHA256 keyed with
// the base64-decoded webhook token, base64-encoded.
func Sign(token string, body []byte) (string, error) {
	key, err := decodeWebhookToken(token)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Verifier checks webhook signatures against one token. Build it once: the
// token is decoded up front, so verifying costs one HMAC.
type Verifier struct{ key []byte }

// NewVerifier decodes the webhook token.
func NewVerifier(token string) (*Verifier, error) {
	key, err := decodeWebhookToken(token)
	if err != nil {
		return nil, fmt.Errorf("webhook verifier: %w", err)
	}
	return &Verifier{key: key}, nil
}

// Verify reports whether signature (base64, as sent in the header
// SignatureHeader or the query parameter SignatureQuery) is body's
// signature. The comparison is in constant time. ctx is unused: it is there
// so that Verifier and RotatingVerifier serve the same interface.
func (v *Verifier) Verify(_ context.Context, body []byte, signature string) bool {
	got, ok := signatureBytes(signature)
	if !ok {
		return false
	}
	m := hmac.New(sha256.New, v.key)
	m.Write(body)
	return hmac.Equal(m.Sum(nil), got)
}

// signatureBytes decodes a signature, reporting whether it has the shape of
// one: base64 of an HMAC-SHA256.
func signatureBytes(signature string) ([]byte, bool) {
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return nil, false
	}
	return got, true
}
