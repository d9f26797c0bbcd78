package chat

import (
	"context"

	"github.com/drctl/drctl/activities/stepio"
)

// Chat holds the activities of this system. The worker registers it
// with the prefix "chat.", so Chat.Post runs as "chat.Post".
//
// The methods below are not built yet: each fails, non-retryably, saying
// so, rather than pretending to work.
type Chat struct{}

// Post runs the slack.post step.
func (c *Chat) Post(_ context.Context, _ PostInput) (PostOutput, error) {
	return PostOutput{}, stepio.NotImplemented("slack.post")
}
