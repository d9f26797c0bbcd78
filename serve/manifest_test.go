package serve

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Slack app manifest in docs/operations.md points Slack at the routes
// serve has, and asks for the scopes its calls need: an operator who
// pastes it gets a working app.
func TestSlackManifestInTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)From an app manifest.*?```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/operations.md has no Slack app manifest")
	}
	var manifest struct {
		Features struct {
			SlashCommands []struct {
				Command, URL string
			} `yaml:"slash_commands"`
		}
		OAuth struct {
			Scopes struct{ Bot []string }
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				RequestURL string `yaml:"request_url"`
			}
		}
	}
	if err := yaml.Unmarshal(m[1], &manifest); err != nil {
		t.Fatalf("the manifest is not YAML: %v", err)
	}
	mux := http.NewServeMux()
	(&slackHandler{}).register(mux)
	urls := []string{manifest.Settings.Interactivity.RequestURL}
	for _, c := range manifest.Features.SlashCommands {
		urls = append(urls, c.URL)
	}
	if len(urls) != 2 {
		t.Fatalf("the manifest names %d URLs, want the interactions and the /drctl command", len(urls))
	}
	for _, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://serve"+parsed.Path, nil)
		if _, pattern := mux.Handler(req); pattern == "" {
			t.Errorf("the manifest sends Slack to %s, which serve does not serve", parsed.Path)
		}
	}
	// chat:write for posts and updates, commands for /drctl, users:read to
	// name who clicked.
	for _, scope := range []string{"chat:write", "commands", "users:read"} {
		found := false
		for _, s := range manifest.OAuth.Scopes.Bot {
			found = found || s == scope
		}
		if !found {
			t.Errorf("the manifest does not ask for %s", scope)
		}
	}
}
