package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/drctl/drctl/activities/stepio"
)

// ApprovalInput is an approval gate to put before its approvers.
type ApprovalInput struct {
	Gate   string            `json:"gate"`
	Prompt string            `json:"prompt"`
	Show   string            `json:"show,omitempty"`
	Users  []string          `json:"users"`
	Quorum int               `json:"quorum"`
	Thread string            `json:"thread"`
	Run    stepio.RunContext `json:"run"`
}

// ButtonValue is what an Approve or Reject button carries back.
type ButtonValue struct {
	Run  string `json:"run"`
	Gate string `json:"gate"`
}

// Button action ids.
const (
	ActionApprove = "drctl_approve"
	ActionReject  = "drctl_reject"
)

// maxShow caps what a prompt shows of an earlier step's output (a plan to
// review): Slack refuses long blocks and a phone shows little.
const maxShow = 2500

// GateBlocks are the blocks of an approval prompt: what to decide, what to
// look at, who may decide, the votes so far, and the buttons while open.
func GateBlocks(in ApprovalInput, votes string, open bool) []slack.Block {
	text := fmt.Sprintf("*Approval needed* on *%s*: %s\n%d of: %s", in.Run.Env, in.Prompt, in.Quorum, strings.Join(in.Users, ", "))
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}
	if in.Show != "" {
		show := in.Show
		if len(show) > maxShow {
			show = show[:maxShow] + "\n… (cut)"
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "```"+show+"```", false, false), nil, nil))
	}
	if votes != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, votes, false, false)))
	}
	if open {
		value, _ := json.Marshal(ButtonValue{Run: in.Run.ID, Gate: in.Gate})
		approve := slack.NewButtonBlockElement(ActionApprove, string(value), slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)
		reject := slack.NewButtonBlockElement(ActionReject, string(value), slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)).WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock("drctl_gate_"+in.Gate, approve, reject))
	}
	return blocks
}

// Approval posts a gate's prompt with Approve / Reject buttons to the run's
// thread. Like every post, a Slack outage leaves a warning, not a failure:
// the CLI can still approve.
func (c *Chat) Approval(ctx context.Context, in ApprovalInput) (PostOutput, error) {
	blocks := GateBlocks(in, "", true)
	return c.post(ctx, in.Run, in.Thread, "", fmt.Sprintf("Approval needed on %s: %s", in.Run.Env, in.Prompt), blocks)
}
