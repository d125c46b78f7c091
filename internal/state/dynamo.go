package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table: a partition per kind of item, the item's own key as the sort
// key, and a TTL attribute. Every item of a kind sits in one partition so
// that housekeeping lists the mutes and the last states with one Query
// each; the load is a few writes a minute.
const (
	PartitionKey = "pk"         // S: "message", "transition", "last" or "mute"
	SortKey      = "sk"         // S: the item's key within its kind
	TTLAttribute = "expires_at" // N: Unix seconds, the table's TimeToLiveSpecification
)

// Kinds of item (PartitionKey values).
const (
	kindMessage    = "message"    // sk room#message-id
	kindTransition = "transition" // sk alarm|state|timestamp[|contributor-id], or another claimant's key
	kindLast       = "last"       // sk alarm|token
	kindMute       = "mute"       // sk label, or * for every token
)

// DynamoAPI is the part of the DynamoDB client Dynamo uses: exactly the
// item actions its IAM policy needs.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Dynamo is the state in a DynamoDB table (QUOTA_STATE_TABLE). Reads are
// strongly consistent: a mute set a second ago must hold.
type Dynamo struct {
	api   DynamoAPI
	table string
}

// NewDynamo returns the state in table.
func NewDynamo(api DynamoAPI, table string) *Dynamo { return &Dynamo{api: api, table: table} }

type item = map[string]types.AttributeValue

func s(v string) types.AttributeValue                         { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue                          { return &types.AttributeValueMemberN{Value: itoa(v)} }
func b(v bool) types.AttributeValue                           { return &types.AttributeValueMemberBOOL{Value: v} }
func key(kind, sk string) item                                { return item{PartitionKey: s(kind), SortKey: s(sk)} }
func ttl(now time.Time, d time.Duration) types.AttributeValue { return n(now.Add(d).Unix()) }

func str(it item, name string) string {
	v, _ := it[name].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func num(it item, name string) int64 {
	v, _ := it[name].(*types.AttributeValueMemberN)
	if v == nil {
		return 0
	}
	i, _ := strconv.ParseInt(v.Value, 10, 64)
	return i
}

func boolean(it item, name string) bool {
	v, _ := it[name].(*types.AttributeValueMemberBOOL)
	return v != nil && v.Value
}

// with adds the key and the attributes to one item.
func with(k item, attrs item) item {
	for name, v := range attrs {
		k[name] = v
	}
	return k
}

func (d *Dynamo) err(op string, err error) error {
	return fmt.Errorf("state table %q: %s: %w", d.table, op, err)
}

// names maps the placeholders of the conditions to attributes: every
// attribute goes by a placeholder, as some (status, owner, until) are
// reserved words.
type names = map[string]string

// put writes it if cond holds; ok is false when it did not.
func (d *Dynamo) put(ctx context.Context, it item, cond string, nm names, values item) (bool, error) {
	in := &dynamodb.PutItemInput{TableName: &d.table, Item: it}
	if cond != "" {
		in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = &cond, nm, values
	}
	_, err := d.api.PutItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	return err == nil, err
}

// Answered records that the message is being answered at now, and reports
// whether no one answered it before. An item past its TTL that DynamoDB
// has not deleted yet counts as absent.
func (d *Dynamo) Answered(ctx context.Context, room int64, id string, now time.Time) (bool, error) {
	ok, err := d.put(ctx, with(key(kindMessage, messageKey(room, id)), item{"at": n(now.UnixMilli()), TTLAttribute: ttl(now, MessageTTL)}),
		"attribute_not_exists(pk) OR #e < :now", names{"#e": TTLAttribute}, item{":now": n(now.Unix())})
	if err != nil {
		return false, d.err("record an answered message", err)
	}
	return ok, nil
}

// Claim takes the transition key for ClaimFor with a conditional put: it
// succeeds when no one has it, or when the one who had it left a claim
// that has expired. Otherwise the item says whether it is Held or Settled.
func (d *Dynamo) Claim(ctx context.Context, k string, now time.Time) (Claim, error) {
	c := Claim{Key: k, Owner: newOwner(), Status: Claimed}
	ok, err := d.put(ctx, with(key(kindTransition, k), item{
		"status": s("claimed"), "owner": s(c.Owner), "claim_until": n(now.Add(ClaimFor).UnixMilli()), TTLAttribute: ttl(now, TransitionTTL),
	}), "attribute_not_exists(pk) OR (#s = :claimed AND #c < :now)", names{"#s": "status", "#c": "claim_until"}, item{":claimed": s("claimed"), ":now": n(now.UnixMilli())})
	switch {
	case err != nil:
		return Claim{}, d.err("claim a transition", err)
	case ok:
		return c, nil
	}
	out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &d.table, Key: key(kindTransition, k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Claim{}, d.err("read a claimed transition", err)
	}
	switch {
	case str(out.Item, "status") == "settled":
		return Claim{Key: k, Status: Settled, Outcome: str(out.Item, "outcome")}, nil
	case str(out.Item, "owner") == c.Owner:
		// Our own put, applied, whose answer was lost: the SDK's retry of it
		// then failed its condition.
		return c, nil
	}
	// Claimed by another, or its claim ended just now: either way, ask again later.
	return Claim{Key: k, Status: Held}, nil
}

// Settle records the claimed transition's outcome; an empty outcome
// releases the claim (a conditional delete: only while it is still c's),
// so that a retry can post.
func (d *Dynamo) Settle(ctx context.Context, c Claim, outcome string, now time.Time) error {
	if outcome == "" {
		cond := "#s = :claimed AND #o = :owner"
		_, err := d.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &d.table, Key: key(kindTransition, c.Key), ConditionExpression: &cond,
			ExpressionAttributeNames:  names{"#s": "status", "#o": "owner"},
			ExpressionAttributeValues: item{":claimed": s("claimed"), ":owner": s(c.Owner)},
		})
		var failed *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &failed) {
			return d.err("release a claim", err)
		}
		return nil
	}
	it := item{"status": s("settled"), "outcome": s(outcome), "at": n(now.UnixMilli()), TTLAttribute: ttl(now, TransitionTTL)}
	if c.Token != "" {
		it["token"] = s(c.Token)
	}
	if _, err := d.put(ctx, with(key(kindTransition, c.Key), it), "", nil, nil); err != nil {
		return d.err("settle a transition", err)
	}
	return nil
}

// Transitions lists the transitions settled in [from, to), in the order
// they were settled (by key at the same time). The times filter the
// partition's items: the query reads every transition kept (TransitionTTL),
// a few thousand small items at most, once a day.
func (d *Dynamo) Transitions(ctx context.Context, from, to time.Time) ([]Transition, error) {
	var out []Transition
	err := d.queryWhere(ctx, kindTransition, "#s = :settled AND #a >= :from AND #a < :to",
		names{"#s": "status", "#a": "at"}, item{":settled": s("settled"), ":from": n(from.UnixMilli()), ":to": n(to.UnixMilli())},
		func(it item) {
			out = append(out, Transition{Key: str(it, SortKey), Token: str(it, "token"), Outcome: str(it, "outcome"), At: time.UnixMilli(num(it, "at"))})
		})
	if err != nil {
		return nil, d.err("list settled transitions", err)
	}
	sortTransitions(out)
	return out, nil
}

// Last is the last state of the alarm's token; ok is false when none is known.
func (d *Dynamo) Last(ctx context.Context, alarm, token string) (Last, bool, error) {
	out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &d.table, Key: key(kindLast, lastKey(alarm, token)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Last{}, false, d.err("read a last state", err)
	}
	if out.Item == nil {
		return Last{}, false, nil
	}
	return lastOf(out.Item), true, nil
}

func lastOf(it item) Last {
	return Last{
		Alarm: str(it, "alarm"), Token: str(it, "token"), State: str(it, "state"), At: time.UnixMilli(num(it, "state_at")),
		Posted: boolean(it, "posted"), Muted: boolean(it, "muted"), Event: str(it, "event"), Since: sinceTime(num(it, "since")),
	}
}

// sinceMilli and sinceTime store Last.Since as Unix milliseconds, 0 for
// none (items written before the attribute existed read as none too).
func sinceMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func sinceTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Lasts lists every alarm's tokens' last states.
func (d *Dynamo) Lasts(ctx context.Context) ([]Last, error) {
	var out []Last
	err := d.query(ctx, kindLast, func(it item) { out = append(out, lastOf(it)) })
	if err != nil {
		return nil, d.err("list last states", err)
	}
	return out, nil
}

// SetLast records l unless a later state of the same alarm and token is
// recorded (deliveries arrive out of order); the same time replaces it.
func (d *Dynamo) SetLast(ctx context.Context, l Last, now time.Time) error {
	_, err := d.put(ctx, with(key(kindLast, lastKey(l.Alarm, l.Token)), item{
		"alarm": s(l.Alarm), "token": s(l.Token), "state": s(l.State), "state_at": n(l.At.UnixMilli()),
		"posted": b(l.Posted), "muted": b(l.Muted), "event": s(l.Event), "since": n(sinceMilli(l.Since)), TTLAttribute: ttl(now, LastTTL),
	}), "attribute_not_exists(pk) OR #a <= :at", names{"#a": "state_at"}, item{":at": n(l.At.UnixMilli())})
	if err != nil {
		return d.err("record a last state", err)
	}
	return nil
}

// Mutes lists the mutes, ended ones included (until DropMute), by label.
func (d *Dynamo) Mutes(ctx context.Context) ([]Mute, error) {
	var out []Mute
	err := d.query(ctx, kindMute, func(it item) {
		out = append(out, Mute{Label: str(it, "label"), Until: time.UnixMilli(num(it, "until")), By: num(it, "by"), At: time.UnixMilli(num(it, "at"))})
	})
	if err != nil {
		return nil, d.err("list mutes", err)
	}
	return out, nil
}

// SetMute records m, replacing the label's earlier mute.
func (d *Dynamo) SetMute(ctx context.Context, m Mute, _ time.Time) error {
	_, err := d.put(ctx, with(key(kindMute, muteKey(m.Label)), item{
		"label": s(m.Label), "until": n(m.Until.UnixMilli()), "by": n(m.By), "at": n(m.At.UnixMilli()), TTLAttribute: ttl(m.Until, MuteTTL),
	}), "", nil, nil)
	if err != nil {
		return d.err("record a mute", err)
	}
	return nil
}

// DropMute removes the label's mute if it still ends when m does: a mute
// set again since is kept.
func (d *Dynamo) DropMute(ctx context.Context, m Mute) error {
	cond := "#u = :until"
	_, err := d.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &d.table, Key: key(kindMute, muteKey(m.Label)), ConditionExpression: &cond,
		ExpressionAttributeNames:  names{"#u": "until"},
		ExpressionAttributeValues: item{":until": n(m.Until.UnixMilli())},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return d.err("drop a mute", err)
	}
	return nil
}

// query reads every item of a kind, page by page.
func (d *Dynamo) query(ctx context.Context, kind string, each func(item)) error {
	return d.queryWhere(ctx, kind, "", nil, nil, each)
}

// queryWhere reads the items of a kind that filter (a filter expression
// over the placeholders nm and values; "" for all) keeps, page by page.
func (d *Dynamo) queryWhere(ctx context.Context, kind, filter string, nm names, values item, each func(item)) error {
	cond := "pk = :kind"
	vals := item{":kind": s(kind)}
	for k, v := range values {
		vals[k] = v
	}
	in := &dynamodb.QueryInput{
		TableName: &d.table, KeyConditionExpression: &cond, ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: vals,
	}
	if filter != "" {
		in.FilterExpression, in.ExpressionAttributeNames = &filter, nm
	}
	for {
		out, err := d.api.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			each(it)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
