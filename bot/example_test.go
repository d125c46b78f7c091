package bot_test

import (
	"fmt"

	"github.com/quotabot/chatwork-quota-bot/bot"
)

func ExampleParseAllowedRooms() {
	ids, err := bot.ParseAllowedRooms(" 123, 456 ")
	fmt.Println(ids, err)
	_, err = bot.ParseAllowedRooms("123,abc")
	fmt.Println(err)
	// Output:
	// [123 456] <nil>
	// allowed room ids: item 2 "abc" is not a positive room id
}
