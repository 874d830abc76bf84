package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/replay"
)

func replayCmd() *cobra.Command {
	var (
		format, configFile, out, mapping string
		compare                          []string
	)
	cmd := &cobra.Command{
		Use:   "replay --format FORMAT [--config C] [--out FILE] FILE...",
		Short: "Replay access logs through the engine in event time: who was abusing us, and what would this config have done",
		Long: `Replay reads access logs (combined, nginx, apache, envoy or json; .gz is
gunzipped; - is stdin) and runs every line through the same engine serve
runs, with the log's timestamps as the clock. Decisions, signals and
shadow would-acts go to --out (default stdout) as JSON lines, the schema
serve writes; a summary goes to stderr. Bad lines are counted and the
first ones reported; they are never fatal.

With --compare OLD.yaml NEW.yaml it replays the logs under both configs
and prints the decisions the change would add and remove.`,
		Example: `  abuseguard replay --format nginx /var/log/nginx/access.log.1 /var/log/nginx/access.log
  zcat old.log.gz | abuseguard replay --format combined --config abuseguard.yaml -
  abuseguard replay --format json --map time=ts,client_ip=remote,path=uri access.jsonl
  abuseguard replay --format nginx --compare current.yaml proposed.yaml access.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			m, err := parseMapping(mapping)
			if err != nil {
				return err
			}
			opts := replay.Options{Format: format, Mapping: m, Stdin: cmd.InOrStdin()}
			if len(compare) > 0 {
				if len(compare) != 2 {
					return fmt.Errorf("--compare takes two configs: OLD.yaml NEW.yaml (as --compare OLD.yaml --compare NEW.yaml or --compare OLD.yaml,NEW.yaml)")
				}
				return runCompare(ctx, cmd, opts, compare[0], compare[1], files)
			}
			return runReplay(ctx, cmd, opts, configFile, out, files)
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "", "log format: "+strings.Join(replay.Formats, ", "))
	f.StringVar(&configFile, "config", "", "config file; default: the embedded defaults")
	f.StringVar(&out, "out", "", "write events (JSON lines) to this file instead of stdout")
	f.StringVar(&mapping, "map", "", "json format: fields as FIELD=NAME,... (time, time_format, client_ip, method, host, path, query, status, bytes, latency, user_agent, referer, api_key, key_id, user, session)")
	f.StringSliceVar(&compare, "compare", nil, "OLD.yaml,NEW.yaml: print the decisions NEW would add and remove")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}

func loadConfig(file string) (*config.Config, error) {
	if file == "" {
		return config.Default()
	}
	return config.Load(file)
}

func runReplay(ctx context.Context, cmd *cobra.Command, opts replay.Options, configFile, out string, files []string) error {
	cfg, err := loadConfig(configFile)
	if err != nil {
		return err
	}
	events := cmd.OutOrStdout()
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		events = f
	}
	r, err := replay.NewReplayer(ctx, cfg, events)
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := replay.Run(ctx, opts, files, r)
	writeSummary(cmd.ErrOrStderr(), st, r)
	return err
}

func writeSummary(w io.Writer, st replay.Stats, r *replay.Replayer) {
	fmt.Fprintf(w, "read %d lines: %d replayed, %d skipped", st.Lines, st.Parsed, st.Bad)
	if !st.First.IsZero() {
		fmt.Fprintf(w, ", from %s to %s", st.First.UTC().Format("2006-01-02T15:04:05Z"), st.Last.UTC().Format("2006-01-02T15:04:05Z"))
	}
	fmt.Fprintln(w)
	for _, b := range st.BadLines {
		fmt.Fprintf(w, "  skipped %s\n", b)
	}
	actions := map[string]int{}
	sources := map[string]int{}
	for _, d := range r.Decisions {
		actions[d.Action.String()]++
		sources[d.Source]++
	}
	fmt.Fprintf(w, "decisions: %d%s\n", len(r.Decisions), counts(actions, " (", ")"))
	fmt.Fprintf(w, "decisions by source:%s\n", counts(sources, " ", ""))
	fmt.Fprintf(w, "refused requests by rule:%s\n", counts(r.Refused, " ", ""))
	fmt.Fprintf(w, "signals by detector:%s\n", counts(r.Signals, " ", ""))
	if top := r.Offenders(10); len(top) > 0 {
		fmt.Fprintln(w, "top offenders:")
		for _, o := range top {
			fmt.Fprintf(w, "  %-40s refused %-7d %s\n", o.Entity, o.Refused, strings.Join(o.Decisions, ", "))
		}
	}
	if n := r.EventErrors(); n > 0 {
		fmt.Fprintf(w, "events not written: %d\n", n)
	}
}

// counts formats a tally as "a 3, b 1", largest first.
func counts(m map[string]int, before, after string) string {
	if len(m) == 0 {
		return before + "none" + after
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return before + strings.Join(parts, ", ") + after
}

func runCompare(ctx context.Context, cmd *cobra.Command, opts replay.Options, oldFile, newFile string, files []string) error {
	var rs [2]*replay.Replayer
	for i, file := range []string{oldFile, newFile} {
		cfg, err := config.Load(file)
		if err != nil {
			return err
		}
		if rs[i], err = replay.NewReplayer(ctx, cfg, nil); err != nil {
			return err
		}
		defer rs[i].Close()
	}
	st, err := replay.Run(ctx, opts, files, rs[0], rs[1])
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "compared %s -> %s over %d lines (%d skipped)\n", oldFile, newFile, st.Parsed, st.Bad)
	added, removed := diffDecisions(rs[0].Decisions, rs[1].Decisions)
	fmt.Fprintf(w, "decisions: %d -> %d: %d added, %d removed\n", len(rs[0].Decisions), len(rs[1].Decisions), len(added), len(removed))
	bySource := map[string][2]int{}
	for _, d := range added {
		c := bySource[d.Source]
		c[0]++
		bySource[d.Source] = c
	}
	for _, d := range removed {
		c := bySource[d.Source]
		c[1]++
		bySource[d.Source] = c
	}
	sources := make([]string, 0, len(bySource))
	for s := range bySource {
		sources = append(sources, s)
	}
	sort.Strings(sources)
	if len(sources) > 0 {
		fmt.Fprintln(w, "by rule:")
	}
	for _, s := range sources {
		fmt.Fprintf(w, "  %-30s +%d -%d\n", s, bySource[s][0], bySource[s][1])
	}
	for _, d := range added {
		fmt.Fprintf(w, "+ %s:%s %s %s (%s)\n", d.Scope, d.Value, d.Action, d.Reason, d.Source)
	}
	for _, d := range removed {
		fmt.Fprintf(w, "- %s:%s %s %s (%s)\n", d.Scope, d.Value, d.Action, d.Reason, d.Source)
	}
	writeSummary(cmd.ErrOrStderr(), st, rs[1])
	return nil
}

// diffDecisions returns the decisions in b that a lacks and those in a
// that b lacks, matching on entity, action and source, counted as
// multisets.
func diffDecisions(a, b []decision.Decision) (added, removed []decision.Decision) {
	key := func(d decision.Decision) string {
		return d.Entity().String() + "\x00" + d.Action.String() + "\x00" + d.Source
	}
	inA := map[string]int{}
	for _, d := range a {
		inA[key(d)]++
	}
	for _, d := range b {
		if inA[key(d)] > 0 {
			inA[key(d)]--
			continue
		}
		added = append(added, d)
	}
	inB := map[string]int{}
	for _, d := range b {
		inB[key(d)]++
	}
	for _, d := range a {
		if inB[key(d)] > 0 {
			inB[key(d)]--
			continue
		}
		removed = append(removed, d)
	}
	return added, removed
}

// parseMapping parses --map FIELD=NAME,... into a JSON field mapping.
func parseMapping(s string) (replay.JSONMapping, error) {
	var m replay.JSONMapping
	fields := map[string]*string{
		"time": &m.Time, "time_format": &m.TimeFormat, "client_ip": &m.ClientIP, "method": &m.Method, "host": &m.Host,
		"path": &m.Path, "query": &m.Query, "status": &m.Status, "bytes": &m.Bytes, "latency": &m.Latency,
		"user_agent": &m.UserAgent, "referer": &m.Referer, "api_key": &m.APIKey, "key_id": &m.KeyID, "user": &m.User,
		"session": &m.Session, "body": &m.Body,
	}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		dst, known := fields[k]
		if !ok || !known || v == "" {
			return m, fmt.Errorf("--map %q: want FIELD=NAME with FIELD one of time, time_format, client_ip, method, host, path, query, status, bytes, latency, user_agent, referer, api_key, key_id, user, session, body", kv)
		}
		*dst = v
	}
	return m, nil
}
