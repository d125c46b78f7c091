package app

import "github.com/quotabot/chatwork-quota-bot/bot"

// botConfig maps the settings onto the bot's configuration.
func botConfig(s Settings, rooms []int64) bot.Config {
	return bot.Config{
		RoomID:           s.RoomID,
		AllowedRoomIDs:   rooms,
		BotAccountID:     s.BotAccountID,
		Language:         s.Language,
		Location:         s.Location(),
		TokenLabel:       s.TokenLabel,
		Threshold:        s.Threshold,
		ThresholdPercent: s.ThresholdPercent,
		MonitorInterval:  s.Interval,
	}
}
