// How a package's last result is shown: one of six display statuses, each
// with a colour shared by the cards, badges and the graph.

export const TIERS = ['instant_skip', 'hash_skip', 'cache_restore', 'full_build'];
export const CACHED_TIERS = new Set(['instant_skip', 'hash_skip', 'cache_restore']);

// Keep in step with the --st-* variables of css/panel.css.
export const STATUS_COLORS = {
  built: '#3fb950',
  cached: '#39c5bb',
  building: '#d29922',
  failed: '#f85149',
  skipped: '#a371f7',
  never: '#6e7681',
};

export const STATUS_LABELS = {
  built: 'built',
  cached: 'cached',
  building: 'building',
  failed: 'failed',
  skipped: 'skipped / cancelled',
  never: 'never built',
};

// displayStatus maps a package's last status and tier (and whether it is
// building now) to built, cached, building, failed, skipped or never.
export function displayStatus(lastStatus, lastTier, building = false) {
  if (building) return 'building';
  switch (lastStatus) {
    case 'success':
      return CACHED_TIERS.has(lastTier) ? 'cached' : 'built';
    case 'failed':
    case 'interrupted':
      return 'failed';
    case 'skipped':
    case 'cancelled':
      return 'skipped';
    case 'running':
      return 'building';
    default:
      return 'never';
  }
}

// tierLabel turns instant_skip into "instant skip".
export function tierLabel(tier) {
  return tier ? tier.replace(/_/g, ' ') : '';
}
