const { padRight, formatDuration } = require('shared');

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };

// createLogger returns a logger that prefixes lines with a component name.
// Lines go to sink (console.log by default) so tests can capture them.
function createLogger(component, { level = 'info', sink = console.log } = {}) {
  const threshold = LEVELS[level];
  const log = (lvl) => (message, fields = {}) => {
    if (LEVELS[lvl] < threshold) return;
    const extra = Object.entries(fields)
      .map(([k, v]) => ` ${k}=${k.endsWith('_ms') ? formatDuration(v) : JSON.stringify(v)}`)
      .join('');
    sink(`${padRight(lvl.toUpperCase(), 5)} [${component}] ${message}${extra}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

module.exports = { createLogger, LEVELS };
