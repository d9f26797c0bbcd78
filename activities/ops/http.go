package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/drctl/drctl/internal/childio"
)

// HTTP makes one request: headers may come from secret references (their
// values are redacted from the output), a non-text body goes as JSON, and
// a status outside expect_status (default: any 2xx) fails the step.
func (o *Ops) HTTP(ctx context.Context, in HTTPInput) (HTTPOutput, error) {
	secrets, redact, err := resolveAll(ctx, in.SecretHeaders)
	if err != nil {
		return HTTPOutput{}, err
	}
	method := in.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	contentType := ""
	switch b := in.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return HTTPOutput{}, nonRetryable("BadInput", "body: %v", err)
		}
		body, contentType = bytes.NewReader(j), "application/json"
	}
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(in.Timeout))
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, in.URL, body)
	if err != nil {
		return HTTPOutput{}, nonRetryable("BadInput", "%s %s: %v", method, in.URL, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range in.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range secrets {
		req.Header.Set(k, v)
	}
	client := *http.DefaultClient
	if len(secrets) > 0 {
		client.CheckRedirect = keepSecretsHome
	}
	resp, err := client.Do(req)
	if err != nil {
		return HTTPOutput{}, fmt.Errorf("%s %s: %s", method, in.URL, redact.Apply(err.Error()))
	}
	defer resp.Body.Close()
	c := childio.Capture{Max: maxCapture, Redact: redact}
	_, _ = io.Copy(&c, resp.Body)
	out := HTTPOutput{Status: resp.StatusCode, Body: c.String()}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(in.ExpectStatus) > 0 {
		ok = slices.Contains(in.ExpectStatus, resp.StatusCode)
	}
	if !ok {
		return out, fmt.Errorf("%s %s answered %d: %s", method, in.URL, resp.StatusCode, lastLines(out.Body))
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		_ = json.Unmarshal([]byte(out.Body), &out.JSON)
	}
	return out, nil
}

// keepSecretsHome is the redirect policy of a request that carries
// secrets: Go's client forwards custom headers (a maintenance token) to
// wherever a server redirects, so a redirect to another host, or from
// HTTPS to plain HTTP, is refused instead.
func keepSecretsHome(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if req.URL.Host != first.Host || first.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected to %s://%s, and secret headers are never sent to another host or over plain HTTP: point the step at the address it redirects to", req.URL.Scheme, req.URL.Host)
	}
	return nil
}
