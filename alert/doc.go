// Package alert watches a BuildNet engine's events and notifies people
// when something needs their attention: a build failed, the cache grew
// past a size, a package got much slower than usual, or a package keeps
// failing.
//
// The configuration lives in the workspace configuration under "alerts"
// ([buildnet.Workspace.Alerts]) and is read with [ParseConfig]:
//
//	"alerts": {
//	  "rules": [
//	    {"name": "api-broken", "type": "build_failed", "packages": ["api..."], "channels": ["ops"]},
//	    {"name": "cache-full", "type": "cache_size", "threshold": "8GB"},
//	    {"name": "slower", "type": "slow_package", "factor": 2, "window": 20, "min_samples": 5},
//	    {"name": "flaky", "type": "repeated_failures", "count": 3}
//	  ],
//	  "channels": {
//	    "ops": {"type": "webhook", "url": "https://ops.example.com/hook", "secret_env": "BUILDNET_HOOK_SECRET"},
//	    "chat": {"type": "slack", "url_env": "SLACK_WEBHOOK_URL"}
//	  }
//	}
//
// # Channels
//
// Channels are [buildnet.Notifier] values made by the factories of a
// [buildnet.Registry]. [RegisterChannels] adds the four built-in types:
// "webhook" (JSON payload signed with HMAC-SHA256, see [VerifySignature]),
// "slack" and "discord" (their incoming-webhook formats) and "email"
// (SMTP). Secrets — signing keys, chat webhook URLs, SMTP passwords — are
// named by environment variables in the configuration and read through
// [Options.Getenv]; they never appear in logs, errors or the history.
//
// # Delivery
//
// An [Alerter] never blocks the engine: evaluating a rule only appends to
// a bounded queue per channel. One worker per channel delivers, with a
// timeout per attempt and retries with exponential backoff. A failed
// attempt is logged and counted; a queue that is full drops the alert,
// which is logged and counted too. [Alerter.History] keeps the last
// alerts with the outcome of each delivery, and [Alerter.Stats] the
// counters.
package alert
