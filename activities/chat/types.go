// Package chat holds the Slack steps: the run's thread, its status board and
// approval prompts.
package chat

import "github.com/drctl/drctl/activities/secret"

// SlackConfig configures an environment's Slack channel.
type SlackConfig struct {
	Channel string     `json:"channel" drctl:"required"`
	Token   secret.Ref `json:"token" drctl:"required"`
	// Automatic posts step events to the run's thread without slack.post steps.
	Automatic bool `json:"automatic,omitempty"`
}

// PostInput posts a message to the run's thread (or a given channel).
type PostInput struct {
	Text    string `json:"text" drctl:"required"`
	Channel string `json:"channel,omitempty"`
}

// PostOutput identifies the posted message.
type PostOutput struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	Posted  bool   `json:"posted"`
}
