package app

import (
	"fmt"

	"github.com/quotabot/chatwork-quota-bot/bot"
)

// botConfig maps the settings onto the bot's configuration.
func botConfig(s Settings) (bot.Config, error) {
	rooms, err := bot.ParseAllowedRooms(s.AllowedRooms)
	if err != nil {
		return bot.Config{}, fmt.Errorf("CHATWORK_ALLOWED_ROOM_IDS: %w", err)
	}
	all, ids, err := bot.ParseMentions(s.AlertMentions)
	if err != nil {
		return bot.Config{}, fmt.Errorf("QUOTA_ALERT_MENTIONS: %w", err)
	}
	return bot.Config{
		RoomID:            s.RoomID,
		AllowedRoomIDs:    rooms,
		BotAccountID:      s.BotAccountID,
		Language:          s.Language,
		Location:          s.Location(),
		TokenLabel:        s.TokenLabel,
		Threshold:         s.Threshold,
		ThresholdPercent:  s.ThresholdPercent,
		MonitorInterval:   s.Interval,
		AlarmName:         s.AlarmName,
		DashboardURL:      s.DashboardURL,
		MentionAll:        all,
		MentionAccountIDs: ids,
	}, nil
}
