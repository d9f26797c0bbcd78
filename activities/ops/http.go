package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return HTTPOutput{}, fmt.Errorf("%s %s: %s", method, in.URL, redact.apply(err.Error()))
	}
	defer resp.Body.Close()
	var c capture
	_, _ = io.Copy(&c, resp.Body)
	out := HTTPOutput{Status: resp.StatusCode, Body: redact.apply(c.String())}
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
