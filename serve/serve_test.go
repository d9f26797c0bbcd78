package serve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drctl/drctl/runbooks"
)

// An empty, short or repetitive signing secret would let anyone sign a
// Slack request: serve refuses to start with one.
func TestServeRefusesAWeakSigningSecret(t *testing.T) {
	newline := filepath.Join(t.TempDir(), "signing")
	if err := os.WriteFile(newline, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_TOKEN", "xoxb-test")
	for ref, value := range map[string]string{
		"env:SIGNING": "", "file:" + newline: "", "env:SIGNING_SHORT": "0123456789abcdef", "env:SIGNING_SAME": strings.Repeat("ab", 16),
	} {
		if env, ok := strings.CutPrefix(ref, "env:"); ok {
			t.Setenv(env, value)
		}
		cfg, diags := runbooks.ParseConfig("drctl.yaml", []byte(`slack: {signing_secret: "`+ref+`", token: env:SLACK_TOKEN}
environments:
  staging: {role: target, database: {name: register, url: "env:UNUSED"}}
`))
		if err := diags.Err(); err != nil {
			t.Fatal(err)
		}
		_, err := newSlackHandler(context.Background(), nil, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "signing_secret ("+ref+")") {
			t.Errorf("%s: %v; want a refusal naming it", ref, err)
		}
	}
	t.Setenv("SIGNING", "8f14e45fceea167a5a36dedd4bea2543")
	cfg, _ := runbooks.ParseConfig("drctl.yaml", []byte(`slack: {signing_secret: env:SIGNING, token: env:SLACK_TOKEN}
environments:
  staging: {role: target, database: {name: register, url: "env:UNUSED"}}
`))
	if _, err := newSlackHandler(context.Background(), nil, cfg, nil); err != nil {
		t.Fatalf("a real signing secret refused: %v", err)
	}
}

// Slow and half-sent requests cannot hold the endpoint: 300 connections,
// each one byte short of the largest body it takes, keep the heap within
// 64 MiB of where it was, a signed request is answered meanwhile, and the
// server drops them once their read deadline passes.
func TestServeHoldsUpUnderSlowConnections(t *testing.T) {
	old := Limits
	Limits.read = 2 * time.Second
	t.Cleanup(func() { Limits = old })
	secret := "8f14e45fceea167a5a36dedd4bea2543"
	t.Setenv("SIGNING", secret)
	t.Setenv("SLACK_TOKEN", "xoxb-test")
	cfg, diags := runbooks.ParseConfig("drctl.yaml", []byte(`slack: {signing_secret: env:SIGNING, token: env:SLACK_TOKEN}
environments:
  staging: {role: target, database: {name: register, url: "env:UNUSED"}}
`))
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, out, "127.0.0.1:0", nil, cfg) }()
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		if _, rest, ok := strings.Cut(out.String(), "http://"); ok {
			addr, _, _ = strings.Cut(rest, "/")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatal("serve did not say where it listens")
	}

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	head := fmt.Sprintf("POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", maxSlackBody)
	part := strings.Repeat("a", maxSlackBody-1)
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
		if _, err := io.WriteString(c, head+part); err != nil {
			t.Fatal(err)
		}
	}
	// The heap is measured once the server has read every body as far as
	// it goes: when it stops growing.
	settled, last, steady := time.Now().Add(10*time.Second), heap(), 0
	for steady < 3 && time.Now().Before(settled) {
		time.Sleep(50 * time.Millisecond)
		now := heap()
		if now < last+512<<10 {
			steady++
		} else {
			steady = 0
		}
		last = now
	}
	grew := int64(last) - int64(before)
	if grew > 64<<20 {
		t.Errorf("300 half-sent requests grew the heap by %d MiB", grew>>20)
	}
	t.Logf("300 half-sent requests of %d KiB: heap grew by %.1f MiB", maxSlackBody>>10, float64(grew)/(1<<20))

	// A signed request is answered while they hang.
	body := url.Values{"command": {"/drctl"}, "text": {"help"}, "user_id": {"U1"}, "trigger_id": {"T1"}}.Encode()
	ts := fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req, _ := http.NewRequest("POST", "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("a signed request while 300 hang: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(answer), "usage: /drctl run") {
		t.Fatalf("a signed request while 300 hang: %d %s", resp.StatusCode, answer)
	}

	// Past the read deadline the server has closed every one of them.
	for i, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("connection %d still open after the read deadline: %v", i, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
