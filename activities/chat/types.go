// Package chat holds the Slack steps: the run's thread, its status board and
// approval prompts.
package chat

import (
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
)

// SlackConfig configures an environment's Slack channel.
type SlackConfig struct {
	Channel string     `json:"channel" drctl:"required"`
	Token   secret.Ref `json:"token" drctl:"required"`
	// Automatic keeps a status board of every run in the channel, with
	// failures and pauses replied in its thread, without slack.post steps.
	Automatic bool `json:"automatic,omitempty"`
}

// PostInput posts a message to the run's thread (or a given channel).
type PostInput struct {
	Text    string `json:"text" drctl:"required"` // the message (Slack mrkdwn)
	Channel string `json:"channel,omitempty"`     // the channel; default the environment's
	// Thread is the run's thread, kept by the interpreter: the first post
	// of a run opens it, the others reply in it.
	Thread string            `json:"thread" drctl:"internal"`
	Run    stepio.RunContext `json:"run" drctl:"internal"`
}

// PostOutput identifies the posted message. Warning says why nothing was
// posted: Slack being down never fails a run.
type PostOutput struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	Thread  string `json:"thread"`
	Posted  bool   `json:"posted"`
	Warning string `json:"warning,omitempty"`
}
