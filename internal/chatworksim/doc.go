// Package chatworksim is an in-process stand-in for the ChatWork API v2, built
// from ChatWork's documentation. It is an http.Handler; the client's tests, the
// bot's end-to-end tests, `quotabot sandbox` and the benchmarks all talk to it
// over real HTTP, so the code under test cannot tell it from ChatWork except
// where this comment says so.
//
// # Model
//
// Accounts are registered with AddAccount(token, id, name) and rooms with
// AddRoom. Room membership is not modelled: any account may read and post in
// any room that exists.
//
// Routes (all under /v2, token in the X-ChatWorkToken header):
//
//	GET  /v2/me                       the token owner, as ChatWork's /me
//	POST /v2/rooms/{room_id}/messages form field body (1..65535 characters), self_unread 0/1
//	GET  /v2/rooms/{room_id}/messages force=0 (unread since this account's last read) or 1 (latest 100); 204 when empty
//	POST /v2/rooms/{room_id}/files    multipart/form-data: file (required, 1 byte to chatwork.MaxFileBytes), message (optional); {"file_id":N}
//
// Errors are always {"errors":["..."]}: 401 for a missing or unknown token,
// 404 for an unknown room or route, 400 for bad input (a file over the limit
// included), 405 for a wrong method (listing files is not modelled).
//
// An upload is kept whole (Files, for tests to decode) and lands as a room
// message that names it with ChatWork's [download:ID] tag after the upload's
// message, so readers and webhooks see it like any post.
//
// # Rate limits
//
// Each token has Config.Limit requests per Config.Window (300 per 5 minutes by
// default). Every request that carries a known token counts: successes, 4xx,
// 429s themselves and requests hit by an injected fault. A request is counted
// when it arrives, before the simulated latency. Every response to a known
// token carries X-RateLimit-Limit, X-RateLimit-Remaining (the remaining count
// after this request, never below 0) and X-RateLimit-Reset (Unix seconds of
// the window's end, rounded up when the window does not end on a whole
// second). Once the window's count passes the limit the answer is 429 with
// Remaining 0 until the window resets.
//
// Whether ChatWork's window is clock-aligned or starts at the first call is
// unconfirmed, so both exist (Config.Mode):
//
//   - WindowFixed: windows are [k*Window, (k+1)*Window) counted from the Unix
//     epoch; a window's Start is on that grid even if its first call is late.
//   - WindowFirstCall: a window opens at the first call after the previous one
//     reset and lasts Window. When Window is a whole number of seconds the
//     start is truncated to the second, so X-RateLimit-Reset is exact.
//
// A window exists only once a call lands in it; Windows reports each one with
// its call count and its true low point (the least Remaining any response in
// it could have shown), which benchmarks use as ground truth. Quota reads the
// state without spending; Spend simulates another program sharing the token.
// If a FakeClock is set backwards the current window simply lasts until its
// recorded reset.
//
// The per-room posting limit (Config.RoomPostLimit per Config.RoomPostWindow,
// 10 per 10 s) is a sliding window over accepted API posts to the room from
// all tokens, uploads included (whether ChatWork counts them is unconfirmed;
// counting them is the stricter model); messages typed with Say do not count,
// and a post refused by the room limit, or as bad input, is not a post. The refused request still spends one request of
// the token's quota (every request does), and its 429
// {"errors":["Rate limit for message posting per room exceeded."]} carries
// the rate-limit headers unless Config.RoomLimitNoHeaders is set: ChatWork's
// behaviour here is unconfirmed, so clients must cope with both. The token's
// own 429 takes precedence over the room's.
//
// # Faults
//
// InjectFault makes requests misbehave in one of the ways FaultKind lists.
// The first matching fault, in injection order, wins; faulted requests are
// counted like any other.
//
// # Webhooks
//
// Every message that lands in a room, typed with Say or posted through the API
// (the bot's own posts included, as on ChatWork), is delivered to each
// matching Webhook: message_created to room webhooks for that room and
// mention_to_me to account webhooks whose account the body names with
// [To:id] or [rp aid=id ...] (anywhere in the body, quotes included; a
// self-mention is delivered too, the stricter choice since ChatWork's
// behaviour is unconfirmed). Deliveries are asynchronous, in order per
// webhook, never retried, signed in the X-ChatWorkWebhookSignature header and
// the chatwork_webhook_signature query parameter, and recorded (Deliveries).
// A delivery whose response is not 200 or has a body over 2,048 bytes is
// recorded as failed; ChatWork's disabling of failing webhooks is not
// modelled. WaitIdle waits until no delivery is queued or in flight, reply
// chains included. Edit changes a message as its author would: room webhooks
// get message_updated, account webhooks mention_to_me again, both with
// update_time set.
//
// Deliveries are built with internal/chatwork's payload types and signed with
// chatwork.Sign, which its tests pin to ChatWork's published test vector.
//
// # Time
//
// Config.Clock drives the rate-limit windows, send_time and webhook event
// times; nil means real time. FakeClock lets tests and benchmarks run thousands
// of windows instantly. Latency, hangs and webhook delivery use real time; a
// client whose requests go through Transport (in process, no network) can run
// with the Server inside a testing/synctest bubble, where that time is
// virtual too.
//
// Nothing here imports package testing: Start takes any value with Helper and
// Cleanup (a testing.TB does), so the sandbox binary can link this package.
package chatworksim
