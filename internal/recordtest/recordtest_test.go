package recordtest_test

import (
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func TestMemory(t *testing.T) {
	recordtest.TestHistory(t, func(*testing.T) (sample.Recorder, sample.History) {
		m := &recordtest.Memory{}
		return m, m
	})
}
