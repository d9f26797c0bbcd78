package chat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/slack-go/slack"

	"github.com/drctl/drctl/activities/stepio"
)

// APIURL is the address drctl reaches Slack's API at instead of Slack's
// own, from DRCTL_SLACK_API_URL (a fake Slack, in tests); "" for Slack.
func APIURL() string { return os.Getenv("DRCTL_SLACK_API_URL") }

// Target is what the chat steps know of an environment.
type Target struct {
	Name  string
	Slack *SlackConfig
}

// Chat holds the chat.* activities; the worker registers it with the
// prefix "chat.".
type Chat struct {
	Targets func(env string) (*Target, error)
	// APIURL replaces Slack's API address (for a test server).
	APIURL string
	// Backoff is the first wait between attempts; it doubles each time.
	Backoff time.Duration
}

const postAttempts = 4

// Post posts to the run's thread in the environment's channel, opening the
// thread with the run's first post. Slack being down, slow or refusing
// never fails the run: the post is retried with backoff (honouring
// rate limits) and then given up with a warning in the output, which the
// interpreter puts in the run's timeline.
func (c *Chat) Post(ctx context.Context, in PostInput) (PostOutput, error) {
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, in.Text, false, false), nil, nil)}
	return c.post(ctx, in.Run, in.Thread, in.Channel, in.Text, blocks)
}

// api returns a Slack client for the token of an environment.
func (c *Chat) api(ctx context.Context, env string) (*slack.Client, *SlackConfig, error) {
	if c.Targets == nil {
		return nil, nil, fmt.Errorf("this worker has no environments file")
	}
	t, err := c.Targets(env)
	if err != nil || t.Slack == nil {
		return nil, nil, fmt.Errorf("environment %s has no Slack channel", env)
	}
	token, err := t.Slack.Token.Resolve(ctx)
	if err != nil {
		return nil, nil, err
	}
	var opts []slack.Option
	if c.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(c.APIURL))
	}
	return slack.New(token, opts...), t.Slack, nil
}

func (c *Chat) post(ctx context.Context, run stepio.RunContext, thread, channel, text string, blocks []slack.Block) (PostOutput, error) {
	out := PostOutput{Thread: thread}
	api, cfg, err := c.api(ctx, run.Env)
	if err != nil {
		out.Warning = "not posted to Slack: " + err.Error()
		return out, nil
	}
	inThread := channel == ""
	if channel == "" {
		channel = cfg.Channel
	}
	msg := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if thread != "" && inThread {
		msg = append(msg, slack.MsgOptionTS(thread))
	}
	wait := c.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	var last error
	for attempt := 1; attempt <= postAttempts; attempt++ {
		ch, ts, err := api.PostMessageContext(ctx, channel, msg...)
		if err == nil {
			out.Channel, out.TS, out.Posted = ch, ts, true
			if out.Thread == "" {
				out.Thread = ts
			}
			return out, nil
		}
		last = err
		pause := wait
		var limited *slack.RateLimitedError
		if errors.As(err, &limited) {
			pause = limited.RetryAfter
		}
		if attempt == postAttempts {
			break
		}
		select {
		case <-ctx.Done():
			out.Warning = fmt.Sprintf("not posted to Slack: %v", ctx.Err())
			return out, nil
		case <-time.After(pause):
		}
		wait *= 2
	}
	out.Warning = fmt.Sprintf("not posted to Slack after %d attempts: %v", postAttempts, last)
	return out, nil
}
