/**
 * Which relay instance runs the firehose consumers. Where several instances share one
 * database (PostgreSQL), exactly one at a time holds the lease and ingests; the others check
 * again every few seconds and take over when the holder is gone. Records are applied by id,
 * so a brief overlap could not double a message; the lease saves the duplicated work and the
 * cursor races.
 */
export interface IngestLease {
  /** True while this instance holds the lease (acquiring it if free); false if another does. */
  tryAcquire(): Promise<boolean>;
  /** Gives the lease up (at shutdown). */
  release(): Promise<void>;
}

/** SQLite: one relay process per data directory (a lock file enforces it), so always held. */
export const soleInstanceLease: IngestLease = {
  tryAcquire: async () => true,
  release: async () => {},
};
