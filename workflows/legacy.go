package workflows

// What a step receives of the run besides its inputs (Step.Gets).
const (
	GetsRunStatus = "run_status"
	GetsThread    = "thread"
)

// upgradeV1 gives a version 1 plan, recorded before plans said what the
// interpreter must do for each step, the flags version 2 plans carry, as
// the interpreter then derived them from the step types' names: a run
// recorded then replays as it ran.
func upgradeV1(p Plan) Plan {
	var upgrade func([]Step) []Step
	upgrade = func(steps []Step) []Step {
		out := make([]Step, len(steps))
		for i, s := range steps {
			switch {
			case s.Parallel != nil:
				par := *s.Parallel
				par.Steps = upgrade(par.Steps)
				s.Parallel = &par
			case s.Uses == "wait" && len(s.With) == 1 && s.With["duration"] != nil:
				s.Timer = true
			case s.Uses == "report.write":
				s.Gets = []string{GetsRunStatus}
			case s.Uses == "slack.post" || s.Uses == "notify":
				s.Gets = []string{GetsThread}
			}
			out[i] = s
		}
		return out
	}
	p.Steps, p.OnFailure, p.Finally = upgrade(p.Steps), upgrade(p.OnFailure), upgrade(p.Finally)
	return p
}
