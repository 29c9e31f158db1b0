// PM2 process file for buildnetd, the BuildNet daemon.
//
// buildnetd is a Go binary, not a Node script: `interpreter: 'none'` makes
// PM2 exec it directly. Build it first and point `script` at it:
//
//   go build -o /usr/local/bin/buildnetd ./cmd/buildnetd
//   BUILDNET_ROOT=/srv/monorepo pm2 start examples/pm2/ecosystem.config.js
//   pm2 logs buildnetd        # JSON logs, one object per line
//   pm2 stop buildnetd        # graceful: see kill_timeout below
//
// With the daemon up, `buildnetd build|status|cache` run in the same root
// go through it (same BUILDNET_ADDR), and the panel is at
// http://127.0.0.1:9876/.

const root = process.env.BUILDNET_ROOT || '/srv/monorepo';
const addr = process.env.BUILDNET_ADDR || '127.0.0.1:9876';
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)];
const grace = 30; // seconds running builds get to finish on stop

module.exports = {
  apps: [
    {
      name: 'buildnetd',
      script: process.env.BUILDNETD_BIN || '/usr/local/bin/buildnetd',
      interpreter: 'none', // a native binary: no node, no bun
      exec_mode: 'fork', // one daemon per workspace; never cluster mode
      instances: 1,
      cwd: root,
      args: [
        'start',
        '--root', root,
        '--listen', host, // keep it on loopback: the API has no authentication
        '--port', port,
        '--grace', `${grace}s`,
        '--log-format', 'json',
      ],
      env: {
        BUILDNET_ADDR: addr,
        NODE_ENV: 'production', // seen by build commands (and hashed if listed in "env")
      },
      // PM2 stops with SIGINT, then SIGKILL after kill_timeout ms. buildnetd
      // stops accepting at once, lets running builds finish for --grace,
      // then cancels and records them: wait longer than that.
      kill_timeout: (grace + 15) * 1000,
      autorestart: true,
      restart_delay: 2000,
      max_restarts: 10,
      min_uptime: 5000,
      // Logs go to stderr; PM2 files them under ~/.pm2/logs.
      merge_logs: true,
      time: false, // the JSON lines carry their own time
    },
  ],
};
