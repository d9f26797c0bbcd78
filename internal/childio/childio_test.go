package childio

import (
	"strings"
	"testing"
)

// A secret is redacted wherever the writes split it and wherever the cut
// falls; nothing of it is left.
func TestCaptureRedactsBeforeItCuts(t *testing.T) {
	const secret = "s3cr3t-0123456789"
	stream := strings.Repeat("a", 95) + secret + strings.Repeat("b", 300) + secret + strings.Repeat("c", 93)
	for chunk := 1; chunk <= len(stream); chunk += 7 {
		c := Capture{Max: 200, Redact: Redactor{secret, "ab"}}
		for i := 0; i < len(stream); i += chunk {
			c.Write([]byte(stream[i:min(i+chunk, len(stream))]))
		}
		got := c.String()
		for i := 0; i+4 <= len(secret); i++ {
			if strings.Contains(got, secret[i:i+4]) {
				t.Fatalf("writes of %d: %q of the secret survived in %q", chunk, secret[i:i+4], got)
			}
		}
		if !strings.HasPrefix(got, strings.Repeat("a", 95)+"[reda") || !strings.Contains(got, "bytes cut") || !strings.HasSuffix(got, "cted]"+strings.Repeat("c", 93)) {
			t.Fatalf("writes of %d: %q", chunk, got)
		}
	}
}

// A child's environment holds what programs need and nothing else of the
// worker's.
func TestEnvIsAnAllowlist(t *testing.T) {
	t.Setenv("DRCTL_WORKER_SECRET", "x")
	t.Setenv("TZ", "Europe/London")
	env := strings.Join(Env("PGHOST=db"), "\n")
	if strings.Contains(env, "DRCTL_WORKER_SECRET") || !strings.Contains(env, "TZ=Europe/London") || !strings.Contains(env, "PATH=") || !strings.HasSuffix(env, "PGHOST=db") {
		t.Fatalf("env:\n%s", env)
	}
}
