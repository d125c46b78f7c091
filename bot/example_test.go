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

func ExampleParseMentions() {
	all, ids, err := bot.ParseMentions("123, 456")
	fmt.Println(all, ids, err)
	all, _, _ = bot.ParseMentions("all")
	fmt.Println(all)
	_, _, err = bot.ParseMentions("123,abc")
	fmt.Println(err)
	// Output:
	// false [123 456] <nil>
	// true
	// alert mentions: item 2 "abc" is not a positive account id (want "all" or comma-separated account ids like 123,456)
}
