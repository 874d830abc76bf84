package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/gameday"
	"github.com/abuseguard/abuseguard/internal/gameday/report"
)

func simulateCmd() *cobra.Command {
	var (
		opts       gameday.Options
		out        string
		params     string
		scenario   string
		failOnMiss bool
	)
	cmd := &cobra.Command{
		Use:   "simulate --target URL [--scenario NAME[,NAME]] [--duration D] [--seed N] [--out DIR]",
		Short: "Run a game day: labelled benign and attack traffic at a guard on loopback, then a report",
		Long: `Drive labelled traffic at a guard on loopback: benign populations (browsing
people, a mobile app, a partner's batch job, an office behind one NAT address,
a launch-day spike) and attacks, one scenario each. Every actor sends from its
own 127.x.y.z address (or, with --forwarded-for, names it in X-Forwarded-For
for a guard that trusts 127.0.0.1). Nothing sent tells the guard what is an
attack. The run is bounded by --duration and --max-requests.

The report (summary.json, report.md, report.html) says per scenario which
attack requests reached the upstream, how fast each attacker was stopped, and
what legitimate users paid. Scenarios: ` + gameday.ScenarioNames() + `, or
mixed for all. See docs/gamedays.md.`,
		Example: "  abuseguard simulate --target http://127.0.0.1:8080 --direct http://127.0.0.1:3000 --duration 60s --out gameday\n" +
			"  abuseguard simulate --target http://127.0.0.1:8080 --scenario credential-stuffing,browsing --params my-scenarios.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Scenarios = []string{scenario}
			if params != "" {
				p, err := gameday.LoadParams(params)
				if err != nil {
					return err
				}
				opts.Params = p
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Progress = progressLine(cmd.ErrOrStderr())
			run, err := gameday.Simulate(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr())
			s := gameday.Evaluate(run)
			if err := report.Write(out, run, s); err != nil {
				return err
			}
			printReport(cmd.OutOrStdout(), out, s)
			if failOnMiss && !s.Passed() {
				fmt.Fprintln(cmd.ErrOrStderr(), "abuseguard: the game day missed a target or a scenario fell short")
				return exitError{}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Target, "target", "", "the guard's URL (loopback only), e.g. http://127.0.0.1:8080")
	f.StringVar(&opts.Direct, "direct", "", "the upstream's URL, to measure the guard's latency overhead (loopback only)")
	f.StringVar(&scenario, "scenario", gameday.Mixed, "scenarios to run, comma-separated, or mixed for all")
	f.DurationVar(&opts.Duration, "duration", time.Minute, "length of the game day (at most 1h)")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed for every actor's choices")
	f.StringVar(&out, "out", "gameday-report", "directory for summary.json, report.md and report.html")
	f.StringVar(&params, "params", "", "scenario parameters (YAML) over the defaults; see internal/gameday/scenarios.yaml")
	f.IntVar(&opts.Concurrency, "concurrency", 128, "requests in flight at most")
	f.IntVar(&opts.MaxRequests, "max-requests", 2_000_000, "requests sent at most")
	f.BoolVar(&opts.ForwardedFor, "forwarded-for", false, "send each actor's address in X-Forwarded-For instead of binding it")
	f.BoolVar(&failOnMiss, "fail-on-miss", false, "exit 1 when a target is missed or a scenario falls short (for CI against staging)")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

func demoCmd() *cobra.Command {
	var (
		opts     gameday.DemoOptions
		scenario string
	)
	cmd := &cobra.Command{
		Use:   "demo [--api shop|market|tickets|desk|bank] [--defaults] [--duration D] [--out DIR]",
		Short: "Start the sample shop and the guard in front of it, run a mixed game day, and show the report",
		Long: `One command to see abuseguard work: it starts the sample shop API and the
guard in front of it (examples/shop.yaml: the default policy plus the shop's
routes), each on a free loopback port, runs the standard mixed game day through
the guard with a live progress line, then prints the result table and writes
summary.json, report.md and report.html, with the guard's config, events and
access log, into --out. --api market runs the same game day against a second,
differently shaped sample API (examples/market.yaml), --api tickets against a
third, held-out one no detector was tuned on (examples/tickets.yaml), --api desk
against a fourth, held-out help-desk API (examples/desk.yaml), --api bank against
a fifth, held-out mobile banking API (examples/bank.yaml); --defaults runs the guard
with no config of its own, as serve --upstream alone would. While it runs, the built-in dashboard shows
the attacks being stopped: the demo prints its URL (http://127.0.0.1:9090/ui/
when that port is free) and the admin token to sign in with.`,
		Example: "  abuseguard demo\n  abuseguard demo --duration 30s --out /tmp/gd",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Scenarios = []string{scenario}
			stderr := cmd.ErrOrStderr()
			opts.Progress = progressLine(stderr)
			opts.Ready = func(guard, api string) {
				fmt.Fprintf(stderr, "sample %s API on %s, guard on %s; game day of %s (seed %d)\n", opts.API, api, guard, opts.Duration, opts.Seed)
			}
			opts.Dashboard = func(url, token string) {
				fmt.Fprintf(stderr, "dashboard: %s  (sign in with the admin token %s)\n", url, token)
			}
			run, summary, err := gameday.Demo(ctx, opts)
			if err != nil {
				return err
			}
			if err := report.Write(opts.Out, run, summary); err != nil {
				return err
			}
			fmt.Fprintln(stderr)
			printReport(cmd.OutOrStdout(), opts.Out, summary)
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.Duration, "duration", time.Minute, "length of the game day (at most 1h)")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed for the shop and every actor's choices")
	f.StringVar(&opts.Out, "out", "gameday-demo", "directory for the reports, the guard's config, events and access log")
	f.StringVar(&scenario, "scenario", gameday.Mixed, "scenarios to run, comma-separated, or mixed for all")
	f.BoolVar(&opts.Virtual, "virtual-clock", false, "run on a virtual clock shared with the guard: as fast as the machine answers, and reproducible")
	f.StringVar(&opts.API, "api", "shop", "the sample API: shop, market (a differently shaped marketplace), tickets (a held-out ticketing API) desk (a held-out help-desk API) or bank (a held-out mobile banking API)")
	f.BoolVar(&opts.Defaults, "defaults", false, "run the guard under its embedded defaults (no routes, keys or rules) instead of the API's example config")
	return cmd
}

// printReport prints the table and where the reports in dir are.
func printReport(w io.Writer, dir string, s *gameday.Summary) {
	report.WriteTable(w, s)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fmt.Fprintf(w, "\nreport: %s\n", filepath.Join(dir, "report.html"))
	fmt.Fprintf(w, "        %s, %s\n", filepath.Join(dir, "report.md"), filepath.Join(dir, "summary.json"))
}

// progressLine returns a Progress callback that rewrites one line on w.
func progressLine(w io.Writer) func(gameday.Progress) {
	return func(p gameday.Progress) {
		pct := func(n, of int) float64 {
			if of == 0 {
				return 0
			}
			return 100 * float64(n) / float64(of)
		}
		fmt.Fprintf(w, "\r%4.0fs/%.0fs  requests %7d  attack %6d (%5.1f%% stopped)  benign %6d (%d refused)   ",
			p.Elapsed.Seconds(), p.Duration.Seconds(), p.Requests, p.AttackRequests, pct(p.AttackMitigated, p.AttackRequests),
			p.BenignRequests, p.BenignMitigated)
	}
}
