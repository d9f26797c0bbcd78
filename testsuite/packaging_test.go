package testsuite

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/drctl/drctl/runbooks"
)

// TestComposeFile checks docker-compose.yml with what there is here (no
// Docker engine runs; `docker compose config` where the plugin is): every
// image pinned, every long-running service with a health check, drctl's
// services started only once Temporal, Postgres and Azurite are healthy,
// Postgres archiving its WAL through drctl, and the environments file it
// mounts taking the nightly backup. TestOnItsOwnCluster runs the same
// topology as processes.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(Root(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string
			Build       any
			Entrypoint  []string
			Command     []string
			Healthcheck *struct{ Test []string }
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
		}
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"temporal", "postgres", "azurite", "drctl-worker", "drctl-serve"} {
		s, ok := compose.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
		if s.Build == nil && (!strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("service %s: image %q is not pinned", name, s.Image)
		}
	}
	for _, name := range []string{"drctl-worker", "drctl-serve"} {
		for _, dep := range []string{"temporal", "postgres", "azurite"} {
			if compose.Services[name].DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("service %s does not wait for %s to be healthy", name, dep)
			}
		}
	}
	if cmd := strings.Join(compose.Services["postgres"].Command, " "); !strings.Contains(cmd, "archive_command=/drctl-bin/drctl --config /etc/drctl/drctl.yaml wal-push --env production") {
		t.Errorf("Postgres does not archive its WAL through drctl: %s", cmd)
	}
	// The environments file the services mount, with the variables they set.
	for k, v := range map[string]string{"DRCTL_API_TOKEN": "3f9c2a71b8e04d6a95c1f7e2d4b8a6c0", "DRCTL_AZURITE": "x", "DRCTL_AGE_IDENTITY": "x", "DRCTL_PRODUCTION_URL": "x"} {
		t.Setenv(k, v)
	}
	cfg, err := runbooks.LoadConfig(filepath.Join(Root(), "deploy", "compose", "drctl.yaml"))
	if err != nil {
		t.Fatalf("deploy/compose/drctl.yaml: %v", err)
	}
	file := filepath.Join(Root(), "runbooks", "library", "nightly-backup.yaml")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, diags := runbooks.Compile(file, src, runbooks.Options{Config: cfg, Env: "production"}); len(diags) > 0 {
		t.Errorf("the nightly backup against deploy/compose/drctl.yaml:\n%s", diags.Lines())
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		cmd := exec.Command("docker", "compose", "-f", "docker-compose.yml", "config", "-q")
		cmd.Dir = Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker compose config: %v\n%s", err, out)
		}
	} else {
		t.Log("no docker compose plugin here: checked by reading the file only")
	}
}

// TestDockerfile: the image is built in two stages, the worker without the
// embedded server, runs as a user of its own with a health check, and the
// build command in it builds.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(Root(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"AS build", "COPY --from=build", "-tags noserver", "USER drctl", "HEALTHCHECK", "postgresql-client-15", "COPY --chown=drctl runbooks/library"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	m := regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 GOTOOLCHAIN=local go build (.*) -o /out/drctl (\S+)$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile has no go build line of the form this test runs")
	}
	cmd := exec.Command("go", append(append([]string{"build"}, strings.Fields(m[1])...), "-o", filepath.Join(t.TempDir(), "drctl"), m[2])...)
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build: %v\n%s", err, out)
	}
}

// TestSystemdUnits verifies the units with systemd's own checker, their
// program pointed at one that exists here.
func TestSystemdUnits(t *testing.T) {
	analyze := Need(t, "systemd-analyze", "apt-get install -y systemd")
	units, _ := filepath.Glob(filepath.Join(Root(), "deploy", "systemd", "*.service"))
	if len(units) != 2 {
		t.Fatalf("want the worker and serve units: %v", units)
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Replace(filepath.Base(u), "@.", "@production.", 1)
		text := strings.ReplaceAll(string(b), "/usr/local/bin/drctl", Binary(t))
		text = regexp.MustCompile(`(?m)^EnvironmentFile=`).ReplaceAllString(text, "EnvironmentFile=-")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(analyze, "verify", filepath.Join(dir, name))
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(u), err, stderr.String())
		}
	}
}

// HelmInstall is how scripts/test installs helm, to check the chart.
const HelmInstall = "go install helm.sh/helm/v4/cmd/helm@v4.3.2"

// TestHelmChart lints the chart and renders it for two environments and
// serve: a worker Deployment per environment that runs only that
// environment's steps, serve with its Service, every container probed on
// /readyz and /healthz and running as a user of its own, the environments
// file mounted from the ConfigMap made of it.
func TestHelmChart(t *testing.T) {
	helm := Need(t, "helm", HelmInstall, filepath.Join(GoBin(), "helm"))
	chart := filepath.Join(Root(), "deploy", "helm", "drctl")
	cfg := filepath.Join(Root(), "deploy", "compose", "drctl.yaml")
	args := []string{"--set-file", "config=" + cfg, "--set", "serve.enabled=true",
		"--set", "workers[0].environment=production", "--set", "workers[1].environment=staging"}
	if out, err := exec.Command(helm, append([]string{"lint", "--strict", chart}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	out, err := exec.Command(helm, append([]string{"template", "rel", chart}, args...)...).Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	type container struct {
		Args           []string
		ReadinessProbe struct {
			HTTPGet struct{ Path string } `yaml:"httpGet"`
		} `yaml:"readinessProbe"`
		LivenessProbe struct {
			HTTPGet struct{ Path string } `yaml:"httpGet"`
		} `yaml:"livenessProbe"`
	}
	var deployments []string
	services, configMaps := 0, map[string]string{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
			Spec     struct {
				Template struct {
					Spec struct {
						SecurityContext struct {
							RunAsNonRoot bool `yaml:"runAsNonRoot"`
						} `yaml:"securityContext"`
						Containers []container
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc.Kind {
		case "ConfigMap":
			configMaps[doc.Metadata.Name] = doc.Data["drctl.yaml"]
		case "Service":
			services++
		case "Deployment":
			c := doc.Spec.Template.Spec.Containers[0]
			deployments = append(deployments, doc.Metadata.Name+": "+strings.Join(c.Args[:3], " "))
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" || !doc.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
				t.Errorf("%s: probes %q %q, non-root %v", doc.Metadata.Name, c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path,
					doc.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
			}
		}
	}
	want := []string{"rel-serve: serve --listen :8088", "rel-worker-production: worker --env production", "rel-worker-staging: worker --env staging"}
	slices.Sort(deployments)
	if strings.Join(deployments, "\n") != strings.Join(want, "\n") || services != 1 {
		t.Errorf("deployments:\n%s\nwant:\n%s\nservices %d", strings.Join(deployments, "\n"), strings.Join(want, "\n"), services)
	}
	if b, _ := os.ReadFile(cfg); configMaps["rel-config"] != string(b) {
		t.Errorf("the ConfigMap does not hold the environments file:\n%s", configMaps["rel-config"])
	}
}
