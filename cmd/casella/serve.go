package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"casella/internal/config"
	"casella/internal/server"
)

func (c *cli) serve(args []string) error {
	fs, g := c.newFlags("serve", "",
		"Run the mail server: SMTP intake and submission, IMAP, POP3, and the HTTP listener\n"+
			"(health, readiness, metrics, status), all in one process over one data directory.\n"+
			"The first start of an empty server creates a demo account and prints its password.\n"+
			"SIGTERM or SIGINT stops accepting, lets sessions finish, and exits; a restart\n"+
			"resumes delivering whatever the intake spool holds.",
		"casella serve",
		"casella serve --data /var/lib/casella --config /etc/casella.toml")
	allowFaults := fs.Bool("allow-faults", false, "allow fault injection through /admin/faults (for drills and tests; never in production)")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long sessions may finish after SIGTERM")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	logger, err := newLogger(c, cfg.Log)
	if err != nil {
		return err
	}
	srv, err := server.Open(server.Options{Config: cfg, AllowFaults: *allowFaults, Logger: logger, Out: c.stdout})
	if err != nil {
		return err
	}
	if err := srv.Start(c.ctx); err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	<-c.ctx.Done()
	logger.Info("shutting down", "timeout", *grace)
	ctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	return srv.Shutdown(ctx)
}

// newLogger makes the server's logger from the [log] section.
func newLogger(c *cli, l config.Log) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w; use debug, info, warn or error", l.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(c.stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(c.stderr, opts)), nil
}
