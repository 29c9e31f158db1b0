package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/tracing"
)

// observers watch the engine for its operators: the alerter of the
// workspace's "alerts" configuration, and the tracer when an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT). Neither costs anything
// when not configured.
type observers struct {
	alerts *alert.Alerter
	tp     *sdktrace.TracerProvider
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startObservers starts the alerter and the tracer. Their subscriptions
// outlive ctx, so that builds drained at shutdown are still judged and
// traced; stop ends them.
func startObservers(ctx context.Context, e *buildnet.Engine, env Env, logger *slog.Logger) (*observers, error) {
	o := &observers{log: logger}
	if err := alert.RegisterChannels(e.Registry()); err != nil {
		return nil, err
	}
	cfg, err := alert.ParseConfig(e.Workspace().Alerts)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if len(cfg.Rules) > 0 || len(cfg.Channels) > 0 {
		o.alerts, err = alert.New(*cfg, alert.Options{
			Engine: e, Registry: e.Registry(), Getenv: env.getenv, Logger: logger.With("component", "alert"),
		})
		if err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
	}
	tcfg := tracing.ConfigFromEnv(env.getenv)
	o.tp, err = tracing.NewProvider(ctx, tcfg, Version)
	if err != nil {
		if o.alerts != nil {
			o.alerts.Close()
		}
		return nil, fmt.Errorf("start: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	if o.alerts != nil {
		logger.Info("alerts on", "rules", len(cfg.Rules), "channels", len(cfg.Channels))
		o.wg.Go(func() { _ = o.alerts.Run(runCtx) })
	}
	if o.tp != nil {
		// The endpoint is logged without user info or query: they may
		// carry a token.
		where := ""
		if raw, err := tcfg.TracesURL(); err == nil {
			if u, err := url.Parse(raw); err == nil {
				where = u.Scheme + "://" + u.Host + u.Path
			}
		}
		logger.Info("tracing on", "otlp_endpoint", where)
		tr := tracing.New(o.tp, logger.With("component", "tracing"))
		o.wg.Go(func() { _ = tr.Run(runCtx, e) })
	}
	return o, nil
}

// stop ends the observers, flushing the spans not yet exported.
func (o *observers) stop() {
	o.cancel()
	o.wg.Wait()
	if o.alerts != nil {
		o.alerts.Close()
	}
	if o.tp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.tp.Shutdown(ctx); err != nil {
			o.log.Warn("flush traces", "err", err)
		}
	}
}
