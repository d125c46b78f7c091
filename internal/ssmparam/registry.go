package ssmparam

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// MaxTokens is how many tokens a registry lists at most: a deployment
// watches at most 100, and the bot's own token is one of them.
const MaxTokens = 99

// PathAPI is the part of *ssm.Client that Registry uses.
type PathAPI interface {
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// Entry is one token of a registry.
type Entry struct {
	Label     string // the parameter's name after the path
	Parameter string // the parameter's full name
	Value     string // the decrypted token, white space trimmed: never print it
	Type      ssmtypes.ParameterType
}

// String leaves the value out, so that printing an entry cannot leak it.
func (e Entry) String() string { return e.Label + " (" + e.Parameter + ")" }

// Registry lists the tokens stored as SecureString parameters directly
// under an SSM path, each labelled by its name after the path.
type Registry struct {
	api  PathAPI
	path string
	log  *slog.Logger
}

// NewRegistry returns a Registry of the path (e.g. "/quotabot/tokens/").
// The entries List skips are logged to log (nil: discarded), one warning
// line each, naming the parameter and never its value.
func NewRegistry(api PathAPI, path string, log *slog.Logger) *Registry {
	return &Registry{api: api, path: path, log: cmp.Or(log, slog.New(slog.DiscardHandler))}
}

// List reads every parameter directly under the path (not below it),
// decrypted, and returns the usable ones sorted by label: at most MaxTokens,
// with a SecureString type, a valid label (sample.CheckLabel), a value that
// is not blank and no other entry's value (the first label in sort order
// keeps it). An empty path lists nothing.
func (r *Registry) List(ctx context.Context) ([]Entry, error) {
	if r.path == "" {
		return nil, nil
	}
	prefix := strings.TrimSuffix(r.path, "/") + "/"
	pages := ssm.NewGetParametersByPathPaginator(r.api, &ssm.GetParametersByPathInput{
		Path:           aws.String(cmp.Or(strings.TrimSuffix(r.path, "/"), "/")),
		Recursive:      aws.Bool(false),
		WithDecryption: aws.Bool(true),
	})
	var all []Entry
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, describe(fmt.Sprintf("list SSM parameters under %q", r.path), err)
		}
		for _, p := range out.Parameters {
			name := aws.ToString(p.Name)
			all = append(all, Entry{strings.TrimPrefix(name, prefix), name, strings.TrimSpace(aws.ToString(p.Value)), p.Type})
		}
	}
	slices.SortFunc(all, func(a, b Entry) int { return strings.Compare(a.Label, b.Label) })

	var good []Entry
	byValue := map[string]string{} // value → the parameter that holds it
	byLabel := map[string]string{} // label in lower case → the parameter that has it
	for _, e := range all {
		skip := func(reason string, args ...any) {
			r.log.Warn("skip token parameter", append([]any{"parameter", e.Parameter, "reason", reason}, args...)...)
		}
		first, dup := byValue[e.Value]
		twin, clash := byLabel[strings.ToLower(e.Label)]
		switch err := sample.CheckLabel(e.Label); {
		case err != nil:
			skip("its name after " + prefix + " is not a usable label: " + err.Error())
		case clash:
			skip("its label differs from another parameter's only in case, and /quota matches labels in any case", "watched", twin)
		case e.Type != ssmtypes.ParameterTypeSecureString:
			skip("a " + string(e.Type) + " parameter: tokens must be SecureString")
		case e.Value == "":
			skip("empty value")
		case dup:
			skip("same token as another parameter, which is watched instead", "watched", first)
		default:
			byValue[e.Value] = e.Parameter
			byLabel[strings.ToLower(e.Label)] = e.Parameter
			good = append(good, e)
		}
	}
	if len(good) > MaxTokens {
		r.log.Error(fmt.Sprintf("too many tokens: %d under %s, at most %d are watched (100 with the bot's own token); the others are ignored", len(good), prefix, MaxTokens),
			"watched_through", good[MaxTokens-1].Label, "first_ignored", good[MaxTokens].Label)
		good = good[:MaxTokens]
	}
	return good, nil
}
