package main

import (
	"strings"
	"testing"
)

// archive setup prints settings that archive through drctl wal-push into
// the named store, and refuses a store the environment does not have.
func TestArchiveSetup(t *testing.T) {
	cfg, _, _ := backupsConfig(t)
	code, out, errs := drctl(t, "--config", cfg, "archive", "setup", "--env", "production")
	if code != 0 || !strings.Contains(out, "archive_mode = 'on'") || !strings.Contains(out, "wal-push --env ''production'' --store ''backups'' %p") ||
		!strings.Contains(out, "#   archive_command:") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := drctl(t, "--config", cfg, "archive", "setup", "--env", "production", "--store", "nowhere"); code != exitFailed || !strings.Contains(errs, "nowhere") {
		t.Fatalf("an unknown store: exit %d %s", code, errs)
	}
}
