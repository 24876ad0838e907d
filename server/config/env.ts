/**
 * Typed readers of environment variables. A bad value is recorded as a problem naming the
 * variable and the reader carries on with the default, so one run reports every bad
 * setting at once (see `collectProblems`).
 */

export interface ConfigProblem {
  variable: string;
  problem: string;
}

/** One or more bad settings; `problems` lists every one, `message` has one line each. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(variable: string | ConfigProblem[], problem = '') {
    const problems = typeof variable === 'string' ? [{ variable, problem }] : variable;
    super(problems.map((p) => `${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type Env = Record<string, string | undefined>;

/**
 * Problems found so far by the collectProblems call in progress (reading is synchronous):
 * each reader records a bad value and carries on with the default, so that one run lists them all.
 */
let problems: ConfigProblem[] | null = null;

/** Records a bad value of `variable` (the first problem per variable) and returns `fallback`; throws outside collectProblems. */
export function bad<T>(variable: string, problem: string, fallback: T): T {
  if (!problems) throw new ConfigError(variable, problem);
  if (!problems.some((p) => p.variable === variable)) problems.push({ variable, problem });
  return fallback;
}

/** Runs `read`, then throws one ConfigError listing every problem its readers recorded. */
export function collectProblems<T>(read: () => T): T {
  problems = [];
  try {
    const value = read();
    if (problems.length) throw new ConfigError(problems);
    return value;
  } finally {
    problems = null;
  }
}

/** An integer from `min` to `max`; `def` when unset or empty. */
export function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    return bad(name, `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`, def);
  }
  return n;
}

/** 1/0, true/false, yes/no, on/off (any case); `def` when unset or empty. */
export function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  return bad(name, `expected 1/0/true/false, got ${JSON.stringify(raw)}`, def);
}

/** One of `values` (any case, returned as listed); `def` when unset or empty. */
export function oneOf<T extends string>(env: Env, name: string, values: readonly T[], def: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = values.find((x) => x.toLowerCase() === raw.toLowerCase());
  if (!v) return bad(name, `expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`, def);
  return v;
}
