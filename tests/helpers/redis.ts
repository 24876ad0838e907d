/**
 * Redis for tests: a channel prefix of this test file's own (`skein:<random>:`), so
 * parallel runs on one Redis never hear each other.
 */
export const REDIS_URL = process.env.SKEIN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh channel prefix for one test run. */
export const redisPrefix = (): string => `skein:${process.pid}-${Math.random().toString(36).slice(2, 10)}:`;
