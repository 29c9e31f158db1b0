// Small numeric helpers.

function clamp(value, min, max) {
  return Math.min(max, Math.max(min, value));
}

function sum(values) {
  return values.reduce((total, v) => total + v, 0);
}

function mean(values) {
  return values.length === 0 ? 0 : sum(values) / values.length;
}

function round(value, digits = 0) {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

module.exports = { clamp, sum, mean, round };
