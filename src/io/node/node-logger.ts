// The real Logger: one JSON object per line on stderr, below a minimum level.

import type { LogFields, Logger, LogLevel } from '../logger.js';

const levelRank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class JsonLogger implements Logger {
  constructor(private readonly levelMin: LogLevel = 'info') {}

  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (levelRank[level] < levelRank[this.levelMin]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
    process.stderr.write(line + '\n');
  }
}
