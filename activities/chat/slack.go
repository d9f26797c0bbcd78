package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"
)

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
	out := PostOutput{Thread: in.Thread}
	if c.Targets == nil {
		out.Warning = "not posted to Slack: this worker has no environments file"
		return out, nil
	}
	t, err := c.Targets(in.Run.Env)
	if err != nil || t.Slack == nil {
		out.Warning = fmt.Sprintf("not posted to Slack: environment %s has no Slack channel", in.Run.Env)
		return out, nil
	}
	token, err := t.Slack.Token.Resolve(ctx)
	if err != nil {
		out.Warning = fmt.Sprintf("not posted to Slack: %v", err)
		return out, nil
	}
	var opts []slack.Option
	if c.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(c.APIURL))
	}
	api := slack.New(token, opts...)
	channel := in.Channel
	if channel == "" {
		channel = t.Slack.Channel
	}
	msg := []slack.MsgOption{
		slack.MsgOptionText(in.Text, false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, in.Text, false, false), nil, nil)),
	}
	if in.Thread != "" && in.Channel == "" {
		msg = append(msg, slack.MsgOptionTS(in.Thread))
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
