'use strict';

/**
 * BuildNetError is the error every method of Engine and Client rejects
 * with. `code` is one of the C API's status names (BN_ERR_CONFIG,
 * BN_ERR_UNKNOWN_PACKAGE, ...), for both classes.
 */
class BuildNetError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'BuildNetError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// fromNative turns an Error thrown by the addon (which has .code) into a
// BuildNetError, keeping its stack.
function fromNative(err) {
  if (err instanceof BuildNetError || !err || typeof err.code !== 'string') return err;
  const e = new BuildNetError(err.code, err.message);
  e.stack = err.stack;
  return e;
}

// The daemon's error codes (api.md) mapped to the C API's names.
const serverCodes = {
  unknown_package: 'BN_ERR_UNKNOWN_PACKAGE',
  not_found: 'BN_ERR_NOT_FOUND',
  bad_request: 'BN_ERR_INVALID_ARGUMENT',
  invalid_json: 'BN_ERR_INVALID_ARGUMENT',
  too_large: 'BN_ERR_INVALID_ARGUMENT',
  conflict: 'BN_ERR_CONFLICT',
  unauthorized: 'BN_ERR_UNAUTHORIZED',
  forbidden: 'BN_ERR_UNAUTHORIZED',
  read_only: 'BN_ERR_READ_ONLY',
  internal: 'BN_ERR_INTERNAL',
};

// fromHTTP builds the error for a failed daemon response.
function fromHTTP(status, body) {
  const e = body && typeof body === 'object' && body.error ? body.error : {};
  let code = serverCodes[e.code];
  if (!code) {
    if (status === 401 || status === 403) code = 'BN_ERR_UNAUTHORIZED';
    else if (status === 404) code = 'BN_ERR_NOT_FOUND';
    else if (status >= 400 && status < 500) code = 'BN_ERR_INVALID_ARGUMENT';
    else code = 'BN_ERR_INTERNAL';
  }
  const extra = { status, serverCode: e.code };
  if (e.suggestions) extra.suggestions = e.suggestions;
  return new BuildNetError(code, e.message || `HTTP ${status}`, extra);
}

module.exports = { BuildNetError, fromNative, fromHTTP };
