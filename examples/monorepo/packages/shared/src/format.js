const { round } = require('./math');

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

// formatBytes(1536) === '1.5 KB'
function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${round(value, unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}

// formatDuration(1250) === '1.3 s'
function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${round(ms / 1000, 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

module.exports = { formatBytes, formatDuration };
