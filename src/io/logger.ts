// Logger seam: structured JSON lines. Core code logs through Env.logger so
// simulation can silence or capture it.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

export const silentLogger: Logger = {
  log() {
    // Intentionally discards: used by tests and simulation.
  },
};
