package chat

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/drctl/drctl/activities/stepio"
)

// BoardInput is a run's status as its board in Slack shows it.
type BoardInput struct {
	Runbook   string      `json:"runbook"`
	Incident  string      `json:"incident"`
	Initiator string      `json:"initiator"`
	URL       string      `json:"url"`
	State     string      `json:"state"`
	Steps     []BoardStep `json:"steps"`
	// Board is the board message's ts ("" before the first post); it is
	// also the run's thread.
	Board string            `json:"board"`
	Run   stepio.RunContext `json:"run"`
}

// BoardStep is one line of the board.
type BoardStep struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Took  string `json:"took,omitempty"`
}

// StateMarks are the glyphs of the step states, on the board and in
// `drctl status` alike.
var StateMarks = map[string]string{
	"pending": "·", "running": "▶", "waiting-approval": "⏸", "paused": "‖",
	"succeeded": "✓", "failed": "✗", "skipped": "↷", "not-run": "–",
}

// boardText renders the board: short lines that read well on a phone.
func boardText(in BoardInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* on *%s* — %s\nstarted by %s", in.Runbook, in.Run.Env, in.State, in.Initiator)
	if in.Incident != "" {
		fmt.Fprintf(&b, " · incident %s", in.Incident)
	}
	if in.URL != "" {
		fmt.Fprintf(&b, " · <%s|open the run>", in.URL)
	}
	b.WriteString("\n")
	for _, s := range in.Steps {
		line := fmt.Sprintf("%s %s", StateMarks[s.State], s.ID)
		if s.Took != "" {
			line += " (" + s.Took + ")"
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Board posts the run's status board (which opens the run's thread) or,
// once posted, updates it in place. Like every post, trouble with Slack is
// a warning, never a failure.
func (c *Chat) Board(ctx context.Context, in BoardInput) (PostOutput, error) {
	text := boardText(in)
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}
	if in.Board == "" {
		return c.post(ctx, in.Run, "", "", text, blocks)
	}
	out := PostOutput{Thread: in.Board, TS: in.Board}
	api, cfg, err := c.api(ctx, in.Run.Env)
	if err != nil {
		out.Warning = "board not updated: " + err.Error()
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, _, _, err := api.UpdateMessageContext(ctx, cfg.Channel, in.Board, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
		out.Warning = "board not updated: " + err.Error()
		return out, nil
	}
	out.Posted = true
	return out, nil
}
