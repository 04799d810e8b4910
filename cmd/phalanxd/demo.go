package main

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
)

func init() { extraCommands = append(extraCommands, demoCmd) }

func demoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Small services to run as tasks in examples and tests",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(demoHTTPCmd())
	return cmd
}

// demoHTTPCmd is a task that serves HTTP, with a health endpoint a test
// can make fail: examples/checked-service.json runs it under an HTTP
// liveness check.
func demoHTTPCmd() *cobra.Command {
	var listen, failFile string
	cmd := &cobra.Command{
		Use:   "http --listen HOST:PORT [--fail-file PATH]",
		Short: "Serve HTTP: GET /healthz answers 200, or 503 while --fail-file exists",
		Long: `Serve HTTP until SIGTERM or SIGINT: GET / answers with the task's id and
generation (PHALANX_TASK_ID, PHALANX_TASK_GENERATION), GET /healthz with 200
"ok", or 503 "unhealthy" while the file --fail-file exists. It is the
service of examples/checked-service.json: create the file, and the
workload's HTTP liveness check fails, the agent ends the task and the chain
restarts it.`,
		Example: "  phalanxd demo http --listen 127.0.0.1:18080 --fail-file /tmp/web-unhealthy",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return fmt.Errorf("--listen %q is not HOST:PORT: %v", listen, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
				if failFile != "" {
					if _, err := os.Stat(failFile); err == nil {
						http.Error(w, "unhealthy: "+failFile+" exists", http.StatusServiceUnavailable)
						return
					}
				}
				fmt.Fprintln(w, "ok")
			})
			mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, "%s generation %s\n", os.Getenv("PHALANX_TASK_ID"), os.Getenv("PHALANX_TASK_GENERATION"))
			})
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "serving http://%s (%s generation %s)\n", ln.Addr(), os.Getenv("PHALANX_TASK_ID"), os.Getenv("PHALANX_TASK_GENERATION"))
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:18080", "address to serve on")
	cmd.Flags().StringVar(&failFile, "fail-file", "", "while this file exists, GET /healthz answers 503")
	return cmd
}
