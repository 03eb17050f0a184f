package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/web"
)

// Targets of DESIGN.md §8 for GET /signin.
const (
	signinMinRatio = 0.60
	signinMaxP99   = 10 * time.Millisecond
	signinP99Conns = 50
)

// signinScenario measures anonymous GET /signin on the real server against a bare Gin handler that
// returns the same bytes, with the same load generator, in the same process, round by round.
func signinScenario(ctx context.Context, o Options) (Result, error) {
	g, err := StartGatehouse(ctx, o, web.Options{})
	if err != nil {
		return Result{}, fmt.Errorf("start gatehouse: %w", err)
	}
	defer g.Close()

	// The baseline returns exactly the page Gatehouse renders, so both move the same bytes.
	page, ctype, err := fetch(ctx, g.URL+"/signin")
	if err != nil {
		return Result{}, fmt.Errorf("gatehouse GET /signin: %w", err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/signin", func(c *gin.Context) { c.Data(http.StatusOK, ctype, page) })
	baseURL, stop, err := StartHTTP(r)
	if err != nil {
		return Result{}, fmt.Errorf("start baseline: %w", err)
	}
	defer stop()

	samples, err := Measure(ctx, o, []Target{
		{Name: "baseline", Op: GetOK(baseURL + "/signin")},
		{Name: "gatehouse", Op: GetOK(g.URL + "/signin")},
	})
	if err != nil {
		return Result{}, err
	}

	res := NewResult("signin", o)
	res.Samples = samples
	res.Summary = Summarize(samples)
	base, gh := res.Find("baseline"), res.Find("gatehouse")
	// Checked on the median of the per-round ratios: each compares two neighbouring runs, so a busy
	// stretch of the machine hits both sides of a ratio instead of only one side of the medians.
	ra := res.RPSRatio("gatehouse", "baseline")
	ratio := ra.PerRoundMedian
	res.Ratios = append(res.Ratios, ra)
	res.Notes = append(res.Notes, fmt.Sprintf("page is %d bytes; baseline is a bare gin.New() handler returning the same bytes", len(page)))
	res.AddCheck("GET /signin req/s vs bare Gin", fmt.Sprintf("median per-round ratio ≥ %.2f", signinMinRatio), fmt.Sprintf("%.2f", ratio), ratio >= signinMinRatio)
	res.AddCheck(fmt.Sprintf("GET /signin p99 at %d conns", o.Conns), "≤ "+ms(signinMaxP99), ms(gh.P99), gh.P99 <= signinMaxP99)
	res.AddCheck("no failed requests", "0", fmt.Sprint(base.Errors+gh.Errors), base.Errors+gh.Errors == 0)
	if o.Conns != signinP99Conns {
		res.Notes = append(res.Notes, fmt.Sprintf("the p99 target is defined at %d connections; this run used %d", signinP99Conns, o.Conns))
	}
	return res, nil
}

// fetch GETs a URL that must answer 200 and returns its body and Content-Type.
func fetch(ctx context.Context, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := newClient().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, resp.Header.Get("Content-Type"), nil
}
