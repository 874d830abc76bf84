package cli

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/rollout"
)

// feedbackCmd returns `decisions confirm` or `decisions false-positive`:
// an analyst's verdict on a decision, through the admin API.
func (c *adminClient) feedbackCmd(use, verdict, short string) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var res admin.FeedbackResult
			_, printed, err := c.fetch(cmd, "POST", "/v1/decisions/"+url.PathEscape(args[0])+"/feedback",
				admin.FeedbackRequest{Verdict: verdict, Note: note}, &res)
			if err != nil || printed {
				return err
			}
			d := res.Decision
			if res.Lifted {
				fmt.Fprintf(cmd.OutOrStdout(), "marked %s a false positive and lifted it: %s %s:%s (reason %s)\n", d.ID, action(d), d.Scope, d.Value, d.Reason)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "confirmed %s: %s %s:%s (reason %s) stays in force\n", d.ID, action(d), d.Scope, d.Value, d.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "a note for the audit trail")
	return cmd
}

// rulesCmd returns `abuseguard rules`, the rollout commands.
func rulesCmd() *cobra.Command {
	c := &adminClient{now: time.Now, http: newAdminHTTP()}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Roll limits and rules out: list their modes, promote, roll back, report",
		Long: `List the limits and CEL rules of a running abuseguard with their modes,
promote one (shadow -> canary:N -> enforce), roll it back to what the config
file says, and report what it acted or would have acted on. Changes go
through the admin API, take effect at once, are audited in the events, and
survive reloads and restarts; the file is not edited, and when the file
changes a rule's mode the file wins.`,
		Example: `  abuseguard rules list
  abuseguard rules report login-stuffing
  abuseguard rules promote login-stuffing --to canary:10
  abuseguard rules promote login-stuffing
  abuseguard rules rollback login-stuffing`,
		Args: cobra.NoArgs,
	}
	c.flags(cmd)
	cmd.AddCommand(c.rulesListCmd(), c.promoteCmd(), c.rollbackCmd(), c.reportCmd())
	return cmd
}

func (c *adminClient) rulesListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the limits and rules with their modes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var list struct {
				Rules []admin.RuleState `json:"rules"`
			}
			_, printed, err := c.fetch(cmd, "GET", "/v1/rules", nil, &list)
			if err != nil || printed {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tMODE\tFILE MODE\tCHANGED")
			for _, r := range list.Rules {
				changed := "-"
				if o := r.Override; o != nil {
					changed = fmt.Sprintf("%s by %s from %s", o.At.Format(time.RFC3339), o.By, o.Previous)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, r.Mode, r.FileMode, changed)
			}
			return tw.Flush()
		},
	}
}

func (c *adminClient) promoteCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "promote NAME",
		Short: "Change a limit's or rule's mode: --to canary:N or enforce (default)",
		Long: `Change the mode of a limit or rule (limit:NAME or rule:NAME when both
exist): --to canary:N enforces it for N percent of clients (the same ones in
every process), --to enforce for all, --to shadow back to recording only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := rollout.ParseTarget(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var st admin.RuleState
			_, printed, err := c.fetch(cmd, "POST", "/v1/rules/"+url.PathEscape(args[0])+"/promote", admin.PromoteRequest{To: to}, &st)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s now runs in %s (the file says %s)\n", st.Kind, st.Name, st.Mode, st.FileMode)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "enforce", "shadow, canary:N (N percent) or enforce")
	return cmd
}

func (c *adminClient) rollbackCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback NAME",
		Short: "Put a limit or rule back in the mode the config file gives it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var st admin.RuleState
			_, printed, err := c.fetch(cmd, "POST", "/v1/rules/"+url.PathEscape(args[0])+"/rollback", struct{}{}, &st)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s rolled back to %s\n", st.Kind, st.Name, st.Mode)
			return nil
		},
	}
}

func (c *adminClient) reportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report NAME",
		Short: "What a limit or rule acted and would have acted on since the server started",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.resolve(cmd); err != nil {
				return err
			}
			var rep rollout.Report
			_, printed, err := c.fetch(cmd, "GET", "/v1/rules/"+url.PathEscape(args[0])+"/report", nil, &rep)
			if err != nil || printed {
				return err
			}
			w := cmd.OutOrStdout()
			bound := ""
			if rep.Capped {
				bound = " (at least)"
			}
			fmt.Fprintf(w, "%s\n  would act:  %d requests\n  acted:      %d requests\n  entities:   %d distinct%s\n  confirmed:  %d of them confirmed as abuse by analysts\n",
				rep.Name, rep.WouldAct, rep.Acted, rep.Entities, bound, rep.Confirmed)
			if !rep.Since.IsZero() {
				fmt.Fprintf(w, "  since:      %s\n", rep.Since.Format(time.RFC3339))
			}
			return nil
		},
	}
}
