package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Environment variables the decisions commands read when their flags are
// not given.
const (
	envAdminURL   = "ABUSEGUARD_ADMIN_URL"
	envAdminToken = "ABUSEGUARD_ADMIN_TOKEN"
)

const defaultAdminURL = "http://127.0.0.1:9090"

// decisionsCmd returns `abuseguard decisions`, a client of the admin API.
func decisionsCmd() *cobra.Command { return newDecisionsCmd(time.Now) }

// newDecisionsCmd is decisionsCmd with the clock that "expires in" is
// measured from.
func newDecisionsCmd(now func() time.Time) *cobra.Command {
	c := &adminClient{now: now, http: newAdminHTTP()}
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "List, add, remove and explain decisions through the admin API",
		Long: `List, add, remove and explain the active decisions (throttle, challenge,
block) of a running abuseguard, through its admin API. The API needs the
admin token: pass --token or set ` + envAdminToken + `.`,
		Example: `  export ` + envAdminToken + `=...
  abuseguard decisions list
  abuseguard decisions add ip:203.0.113.7 --action block --ttl 1h --reason "card testing"
  abuseguard decisions explain prefix:203.0.113.0/24
  abuseguard decisions remove d_3f9a1c0e5b7d2a64`,
		Args: cobra.NoArgs,
	}
	c.flags(cmd)
	cmd.AddCommand(c.listCmd(), c.addCmd(), c.removeCmd(), c.explainCmd(),
		c.feedbackCmd("confirm", admin.VerdictConfirmed, "Confirm a decision as abuse (it stays in force; counts toward precision)"),
		c.feedbackCmd("false-positive", admin.VerdictFalsePositive, "Mark a decision a false positive: lift it and count it (M3)"))
	return cmd
}

// flags adds the admin API client's flags to cmd and its subcommands.
func (c *adminClient) flags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.base, "admin", defaultAdminURL, "admin API base URL (env "+envAdminURL+")")
	pf.StringVar(&c.token, "token", "", "admin API bearer token (env "+envAdminToken+")")
	pf.BoolVar(&c.raw, "json", false, "print the API's JSON response as is")
}

// newAdminHTTP returns the HTTP client of the admin API commands.
func newAdminHTTP() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// adminClient calls the admin API for the decisions commands.
type adminClient struct {
	base, token string
	raw         bool
	http        *http.Client
	now         func() time.Time
}

// apiError is a refusal from the admin API.
type apiError struct {
	Status int    `json:"status"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func (e *apiError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Reason)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Reason, e.Detail)
}

// resolve applies the environment to the flags not given.
func (c *adminClient) resolve(cmd *cobra.Command) error {
	if v := os.Getenv(envAdminURL); v != "" && !cmd.Flags().Changed("admin") {
		c.base = v
	}
	if v := os.Getenv(envAdminToken); v != "" && !cmd.Flags().Changed("token") {
		c.token = v
	}
	if c.token == "" {
		return errors.New("no admin token: pass --token or set " + envAdminToken)
	}
	return nil
}

// call sends a request to the admin API and returns the status and body
// of a successful answer. A refusal is an *apiError.
func (c *adminClient) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("--admin %q: %w", c.base, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Reason == "" {
			// Not a problem+json body: something else answered.
			e.Reason = http.StatusText(resp.StatusCode)
			e.Detail, _, _ = strings.Cut(strings.TrimSpace(string(raw)), "\n")
			if len(e.Detail) > 200 {
				e.Detail = e.Detail[:200] + "..."
			}
		}
		e.Status = resp.StatusCode
		return resp.StatusCode, nil, e
	}
	return resp.StatusCode, raw, nil
}

// fetch calls the API and, with --json, prints the body as is; otherwise it
// decodes the body into out for the caller to print.
func (c *adminClient) fetch(cmd *cobra.Command, method, path string, body, out any) (status int, printed bool, err error) {
	status, raw, err := c.call(cmd.Context(), method, path, body)
	if err != nil {
		return status, false, err
	}
	if c.raw {
		_, err = cmd.OutOrStdout().Write(raw)
		return status, true, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return status, false, fmt.Errorf("admin API: unexpected answer to %s %s: %w", method, path, err)
	}
	return status, false, nil
}

func (c *adminClient) listCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list [SCOPE[:VALUE]]",
		Short: "List the active decisions, oldest first",
		Example: `  abuseguard decisions list
  abuseguard decisions list ip
  abuseguard decisions list ip:203.0.113.7`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			q := url.Values{}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			if len(args) == 1 {
				scope, value, _ := strings.Cut(args[0], ":")
				q.Set("scope", scope)
				if value != "" {
					q.Set("value", value)
				}
			}
			path := "/v1/decisions"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var list struct {
				Decisions []decision.Decision `json:"decisions"`
				Total     int                 `json:"total"`
			}
			_, printed, err := c.fetch(cmd, "GET", path, nil, &list)
			if err != nil || printed {
				return err
			}
			out := cmd.OutOrStdout()
			if len(list.Decisions) == 0 {
				fmt.Fprintln(out, "no active decisions")
				return nil
			}
			now := c.now()
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tVALUE\tACTION\tREASON\tSOURCE\tEXPIRES IN\tOFFENSE")
			for _, d := range list.Decisions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", d.ID, d.Scope, d.Value, action(d), d.Reason, d.Source, expiresIn(d.Expires, now), d.Offense)
			}
			tw.Flush()
			if list.Total > len(list.Decisions) {
				fmt.Fprintf(out, "%d of %d shown (the most recent); raise --limit to see more\n", len(list.Decisions), list.Total)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many, the most recent (default: the API's, 1000)")
	return cmd
}

func (c *adminClient) addCmd() *cobra.Command {
	req := admin.AddRequest{}
	cmd := &cobra.Command{
		Use:   "add SCOPE:VALUE",
		Short: "Add a manual decision (block, challenge or throttle an entity for a while)",
		Long: `Add a manual decision on an entity: ip:ADDR, prefix:CIDR, key:ID, user:NAME or
fingerprint:ID. When the entity already has an active decision at least as
strong, that one is kept and shown; remove it first to weaken it.`,
		Example: `  abuseguard decisions add ip:203.0.113.7 --action block --ttl 1h --reason "card testing"
  abuseguard decisions add prefix:198.51.100.0/24 --action throttle --ttl 30m --mode shadow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var ok bool
			req.Scope, req.Value, ok = strings.Cut(args[0], ":")
			if !ok {
				return fmt.Errorf("%q is not SCOPE:VALUE, e.g. ip:203.0.113.7", args[0])
			}
			var d decision.Decision
			status, printed, err := c.fetch(cmd, "POST", "/v1/decisions", req, &d)
			if err != nil || printed {
				return err
			}
			out := cmd.OutOrStdout()
			if status != http.StatusCreated {
				fmt.Fprintf(out, "kept %s: %s on %s:%s is at least as strong (expires in %s)\n", d.ID, action(d), d.Scope, d.Value, expiresIn(d.Expires, c.now()))
				return nil
			}
			fmt.Fprintf(out, "added %s: %s %s:%s for %s (offense %d, expires %s)\n", d.ID, action(d), d.Scope, d.Value,
				duration(d.Expires.Sub(d.Created)), d.Offense, d.Expires.Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Action, "action", "block", "throttle, challenge or block")
	f.StringVar(&req.TTL, "ttl", "1h", "how long it lasts, e.g. 30m, 12h, 720h (at most 8760h)")
	f.StringVar(&req.Reason, "reason", "manual", "why, shown in list and explain")
	f.StringVar(&req.Mode, "mode", "enforce", "enforce, or shadow to only record what it would do")
	return cmd
}

func (c *adminClient) removeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove an active decision",
		Example: "  abuseguard decisions remove d_3f9a1c0e5b7d2a64",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var d decision.Decision
			_, printed, err := c.fetch(cmd, "DELETE", "/v1/decisions/"+url.PathEscape(args[0]), nil, &d)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s: %s %s:%s\n", d.ID, action(d), d.Scope, d.Value)
			return nil
		},
	}
}

func (c *adminClient) explainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "explain SCOPE:VALUE",
		Short: "Show what is known about an entity: its score, decisions with their evidence, recent signals",
		Example: `  abuseguard decisions explain ip:203.0.113.7
  abuseguard decisions explain key:k_0123`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var x decision.Explanation
			_, printed, err := c.fetch(cmd, "GET", "/v1/explain/"+url.PathEscape(args[0]), nil, &x)
			if err != nil || printed {
				return err
			}
			printExplanation(cmd.OutOrStdout(), x, c.now())
			return nil
		},
	}
}

func printExplanation(w io.Writer, x decision.Explanation, now time.Time) {
	fmt.Fprintf(w, "%s\n  score: %.1f\n", x.Entity, x.Score)
	if x.Campaign != "" {
		fmt.Fprintf(w, "  campaign: %s (%d ids of its walk; abuseguard campaigns show %s)\n", x.Campaign, x.CampaignIDs, x.Campaign)
	}
	if len(x.Decisions) == 0 {
		fmt.Fprintln(w, "  decisions: none active")
	} else {
		fmt.Fprintln(w, "  decisions:")
	}
	for _, d := range x.Decisions {
		fmt.Fprintf(w, "    %s  %s  reason %s  source %s  offense %d  expires in %s (%s)\n",
			d.ID, action(d), d.Reason, d.Source, d.Offense, expiresIn(d.Expires, now), d.Expires.Format(time.RFC3339))
		if d.Score != 0 {
			fmt.Fprintf(w, "      score at decision: %.1f\n", d.Score)
		}
		var ids []string
		for _, e := range d.Evidence {
			fmt.Fprintf(w, "      - %s\n", evidenceLine(e))
			if e.RequestID != "" {
				ids = append(ids, e.RequestID)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(w, "      sample request ids: %s\n", strings.Join(ids, ", "))
		}
	}
	if len(x.Signals) == 0 {
		fmt.Fprintln(w, "  recent signals: none")
		return
	}
	fmt.Fprintln(w, "  recent signals:")
	for _, e := range x.Signals {
		fmt.Fprintf(w, "    - %s\n", evidenceLine(e))
	}
}

// evidenceLine renders one piece of evidence on one line:
// "12:00:00Z probing: 23 distinct 404 paths (count 23, threshold 20, window 5m0s, weight 40, request req-1)".
func evidenceLine(e verdict.Evidence) string {
	var b strings.Builder
	if !e.Time.IsZero() {
		b.WriteString(e.Time.Format(time.RFC3339) + " ")
	}
	b.WriteString(e.Detector)
	if e.Summary != "" {
		b.WriteString(": " + e.Summary)
	}
	var facts []string
	if e.Count != 0 || e.Threshold != 0 {
		facts = append(facts, fmt.Sprintf("count %.4g", e.Count), fmt.Sprintf("threshold %g", e.Threshold))
	}
	if e.Window != "" {
		facts = append(facts, "window "+e.Window)
	}
	if e.Weight != 0 {
		facts = append(facts, fmt.Sprintf("weight %g", e.Weight))
	}
	if e.RequestID != "" {
		facts = append(facts, "request "+e.RequestID)
	}
	if len(facts) > 0 {
		b.WriteString(" (" + strings.Join(facts, ", ") + ")")
	}
	return b.String()
}

// action is d's action, marked when d is a shadow decision.
func action(d decision.Decision) string {
	if d.Mode == verdict.Shadow {
		return d.Action.String() + " (shadow)"
	}
	return d.Action.String()
}

func expiresIn(t, now time.Time) string {
	if !t.After(now) {
		return "expired"
	}
	return duration(t.Sub(now))
}

// duration prints d to the second without zero tails: 1h, 1h30m, 59m59s.
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Second {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
