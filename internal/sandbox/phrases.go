package sandbox

// phrases are the sandbox's own lines in one language (--lang); the bot's
// messages are the bot's. CloudWatch's alarm reasons stay as CloudWatch
// writes them, in English.
type phrases struct {
	// banner's arguments: simulator URL, room, your account, the bot's
	// account, webhook URL, samples file, log file, limit, window,
	// interval, threshold (thresholdCount or thresholdPercent), tokens, how
	// long an alarm stays after its last low reading.
	banner, ctrlC, help              string
	thresholdCount, thresholdPercent string
	burnUsage, burned, burned429     string
	burnedOf, unknownToken           string
	quota, status, alarm, waitUsage  string
	alarmToken                       string
	paceUsage, paceOn, paceOff       string
	paceRunning                      string
	chartWritten, chartRest          string
	chartFailed, savedFile           string
	unknown, stopped                 string
	notPosted, exhausted, roomLimit  string
	failed                           string
}

var en = phrases{
	banner: `quotabot sandbox: ChatWork, the monitor, the alarms and the bot, all on this machine.
  ChatWork simulator  %[1]s  (room %[2]d; you are account %[3]d, the bot %[4]d)
  bot webhook         %[5]s  (signed room webhook)
  samples             %[6]s
  log                 %[7]s
  quota               %[8]d calls per %[9]v window; the monitor reads it every %[10]v
  alarms              quota at or under %[11]s; pace: remaining at the reset, at the pace seen, at or under 0;
                      each clears after about %[13]v without one (the template's shapes, shortened with the window)
  tokens              %[12]s (the first is the bot's own; each its own account and window)
Type a message for the room: /quota asks the bot, !burn N spends N calls, !help lists more.`,
	ctrlC: "Ctrl-C quits.",
	help: `In the room:
  any text      a message from you in the room (/quota asks the bot, /quota help explains it)
  !burn N [T]   spend N API calls as another program using token T would (default: the bot's own)
  !pace N/s [T] keep spending N calls a second (or N/m a minute) on token T in the background; !pace 0 [T] stops
  !wait D       wait for a duration such as 5s or 1m (for scripts); !wait reset [T] waits for T's window to reset
  !chart [T] [P] write the chart /quota chart posts (token T, or every token; period 3h, 24h or 7d, shortened
                with the window) to a PNG file and print its path
  !digest       post today's digest so far (the schedule posts yesterday's each morning on AWS)
  !status       each token's quota right now, from the simulator (spends nothing), and its alarm's state
  !quit         stop (so does Ctrl-C, or the end of the input)
  !help         this list`,
	thresholdCount:   "%d remaining",
	thresholdPercent: "%d%% remaining",
	burnUsage:        "!burn takes a number of calls, e.g. !burn 250",
	burned:           "another client spent %d calls%s%s; %s",
	burnedOf:         " of %s's token",
	burned429:        " (%d of them got 429)",
	unknownToken:     "no token is labelled %q; the tokens are %s",
	quota:            "quota %d of %d left (%s), resets %s (in %v)",
	status:           "%s; alarm %s, pace alarm %s",
	paceUsage:        "!pace takes a pace such as 6/s or 90/m, and 0 to stop, e.g. !pace 6/s",
	paceOn:           "another client now spends %s calls a second%s in the background (%.0f per %v window); %s",
	paceOff:          "the background calls%s stopped",
	paceRunning:      "; background pace %s/s",
	chartWritten:     "chart written to %s%s",
	chartRest:        " (left out: %s)",
	chartFailed:      "no chart: %v",
	savedFile:        "(the file is saved as %s)",
	alarm:            "alarm %s: %s → %s (%s)",
	alarmToken:       "alarm %s, token %s: %s → %s (%s)",
	waitUsage:        "!wait takes a duration up to %v, e.g. !wait 10s, or !wait reset",
	unknown:          "unknown command %s; !help lists the commands (a message starting with ! is not sent)",
	stopped:          "stopped.",
	notPosted:        "%s's message was not posted: %s",
	exhausted:        "the token's quota is used up until %s (HTTP 429)",
	roomLimit:        "the room's posting limit, 10 messages in 10 s (HTTP 429); the bot waits and tries once more",
	failed:           "ChatWork answered %s",
}

var ja = phrases{
	banner: `quotabot サンドボックス: ChatWork、モニター、アラーム、ボットをすべてこのマシンで動かします。
  ChatWork シミュレーター  %[1]s（ルーム %[2]d、あなたはアカウント %[3]d、ボットは %[4]d）
  ボットの Webhook         %[5]s（署名付きのルーム Webhook）
  サンプル                 %[6]s
  ログ                     %[7]s
  API の上限               %[9]v ごとに %[8]d 回。モニターは %[10]v ごとに読み取ります
  アラーム                 %[11]s以下で発報。ペース: 今のペースでのリセット時の残りが 0 回以下で発報。
                           どちらも約 %[13]v 続けて外れると解除（テンプレートの設定を枠の長さに合わせて短縮）
  トークン                 %[12]s（最初がボット自身のもの。それぞれ別のアカウントと枠）
ルームへのメッセージを入力してください。/quota でボットに尋ね、!burn N で N 回使い、!help でほかのコマンドを表示します。`,
	ctrlC: "Ctrl-C で終了します。",
	help: `ルームで:
  テキスト      あなたからルームへのメッセージ（/quota でボットに尋ね、/quota help で説明を表示）
  !burn N [T]   トークン T（省略時はボット自身のもの）を使う別のプログラムとして API を N 回使う
  !pace N/s [T] トークン T で毎秒 N 回（N/m なら毎分）API を使い続ける（バックグラウンド）。!pace 0 [T] で止める
  !wait D       5s や 1m などの時間だけ待つ（スクリプト用）。!wait reset [T] は T の枠のリセットまで待つ
  !chart [T] [P] /quota chart が投稿するグラフ（トークン T、省略時は全トークン。期間 3h、24h、7d は枠の長さに
                合わせて短縮）を PNG ファイルに書き、そのパスを表示する
  !digest       今日のここまでのダイジェストを投稿する（AWS では毎朝、前日の分をスケジュールが投稿します）
  !status       シミュレーターが持つ各トークンの今の残り（API は使いません）とアラームの状態
  !quit         終了（Ctrl-C や入力の終わりでも終了します）
  !help         この一覧`,
	thresholdCount:   "残り %d 回",
	thresholdPercent: "残り %d%%",
	burnUsage:        "!burn には回数を指定します（例: !burn 250）",
	burned:           "別のクライアントが%[2]s %[1]d 回使いました%[3]s。%[4]s",
	burnedOf:         " %s のトークンで",
	burned429:        "（うち %d 回は 429）",
	unknownToken:     "%q というトークンはありません。トークンは %s です",
	quota:            "残り %d / %d 回（%s）、リセット %s（あと %v）",
	status:           "%s、アラーム %s、ペースのアラーム %s",
	paceUsage:        "!pace にはペースを指定します（例: !pace 6/s、!pace 90/m）。0 で止めます",
	paceOn:           "別のクライアントが%[2]s バックグラウンドで毎秒 %[1]s 回使い始めました（%[4]v の枠で %.0[3]f 回）。%[5]s",
	paceOff:          "%s バックグラウンドの呼び出しを止めました",
	paceRunning:      "、バックグラウンドで毎秒 %s 回",
	chartWritten:     "グラフを %s に書きました%s",
	chartRest:        "（省略したトークン: %s）",
	chartFailed:      "グラフを作れません: %v",
	savedFile:        "（ファイルを %s に保存しました）",
	alarm:            "アラーム %s: %s → %s（%s）",
	alarmToken:       "アラーム %s、トークン %s: %s → %s（%s）",
	waitUsage:        "!wait には %v までの時間（例: !wait 10s）か reset を指定します",
	unknown:          "%s というコマンドはありません。!help で一覧を表示します（! で始まるメッセージは送信されません）",
	stopped:          "停止しました。",
	notPosted:        "%s のメッセージは投稿されませんでした: %s",
	exhausted:        "トークンの残りが %s まで 0 回です（HTTP 429）",
	roomLimit:        "ルームの投稿制限（10 秒に 10 件、HTTP 429）です。ボットは待ってからもう一度だけ試します",
	failed:           "ChatWork の応答が %s でした",
}

var languages = map[string]*phrases{"ja": &ja, "en": &en}
