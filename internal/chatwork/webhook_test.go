package chatwork

import (
	"context"
	"testing"
)

// The public test vector from chatwork-facts.md (creators-note.chatwork.com, 2017-11-29).
const (
	vectorToken = "A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU="
	vectorBody  = `{"webhook_setting_id":"246","webhook_event_type":"message_created","webhook_event_time":1511238729,"webhook_event":{"message_id":"984676321621704704","room_id":36818150,"account_id":1484814,"body":"test","send_time":1511238729,"update_time":0}}`
	vectorSig   = "G7Gtrh5Ee6d8erOVXhWPtUrkNJqqIT5vwLU50KhyLQk="
)

func TestSignPublicVector(t *testing.T) {
	got, err := Sign(vectorToken, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Fatalf("Sign = %q, want %q", got, vectorSig)
	}
}

func TestVerify(t *testing.T) {
	v, err := NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, body, sig string
		want            bool
	}{
		{"vector", vectorBody, vectorSig, true},
		{"body changed", vectorBody + " ", vectorSig, false},
		{"empty signature", vectorBody, "", false},
		{"not base64", vectorBody, "!!!", false},
		{"short", vectorBody, "AAAA", false},
		{"other signature", vectorBody, "H7Gtrh5Ee6d8erOVXhWPtUrkNJqqIT5vwLU50KhyLQk=", false},
	}
	for _, c := range cases {
		if got := v.Verify(context.Background(), []byte(c.body), c.sig); got != c.want {
			t.Errorf("%s: Verify = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNewVerifierBadToken(t *testing.T) {
	const secret = "not*base64*secret"
	_, err := NewVerifier(secret)
	if err == nil {
		t.Fatal("want error for a token that is not base64")
	}
	if contains(err.Error(), secret) {
		t.Fatalf("error %q holds the token", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
