package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/sample"
)

func sampleAPICmd() *cobra.Command {
	var (
		listen string
		seed   uint64
	)
	cmd := &cobra.Command{
		Use:   "sample-api [--listen ADDR] [--seed N]",
		Short: "Run a small shop API with real status semantics, the target of game days",
		Long: `Run the sample shop API: products, search, login, signup, password reset,
promo codes, orders, partner endpoints and a small GraphQL endpoint. Signup
and password reset leak account existence on purpose (409, 404) so the
detectors have something to catch. The catalog and tokens are deterministic
for a seed. Login issues HS256 session tokens signed with $SAMPLE_SHOP_JWT_SECRET
(a demo secret when unset). SIGINT or SIGTERM shuts it down gracefully. See
docs/sample-api.md.`,
		Example: "  abuseguard sample-api\n  abuseguard sample-api --listen 127.0.0.1:3000 --seed 7",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			opts := sample.Options{Seed: seed}
			if secret := os.Getenv(sample.TokenSecretEnv); secret != "" {
				opts.TokenSecret = []byte(secret)
			}
			srv := &http.Server{Handler: sample.New(opts), ReadHeaderTimeout: 10 * time.Second}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "sample-api listening on http://%s (seed %d)\n", ln.Addr(), seed)
			fmt.Fprintf(out, "demo credentials: user %s / %s, partner X-API-Key %s, promo code %s\n",
				sample.DemoUser, sample.DemoPassword, sample.DemoPartnerKey, sample.DemoPromoCode)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = srv.Shutdown(sctx)
			if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
				err = errors.Join(err, serveErr)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:3000", "listen address")
	f.Uint64Var(&seed, "seed", 1, "seed for the catalog, reviews, order history and session tokens")
	return cmd
}
