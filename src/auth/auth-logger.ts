/** The logging the auth layer needs; the service's logger satisfies it structurally. */
export interface AuthLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: AuthLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
