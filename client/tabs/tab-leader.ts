/**
 * Leader election among the tabs of one browser with Web Locks: the tab holding the
 * lock for a thread holds its relay connection; when it closes (or crashes) the browser
 * releases the lock and a waiting tab takes over. Without Web Locks (Node tests) every
 * instance leads.
 */

export interface Leadership {
  readonly isLeader: boolean;
  /** Resolves when this instance becomes leader (never, once released). */
  readonly whenLeader: Promise<void>;
  release(): void;
}

export function electLeader(lockName: string): Leadership {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  let isLeader = false;
  let release = () => {};
  let becameLeader!: () => void;
  const whenLeader = new Promise<void>((r) => (becameLeader = r));
  if (!locks) {
    isLeader = true;
    becameLeader();
    return { get isLeader() { return isLeader; }, whenLeader, release() { isLeader = false; } };
  }
  const abort = new AbortController();
  let released = false;
  locks
    .request(lockName, { signal: abort.signal }, () => {
      if (released) return;
      isLeader = true;
      becameLeader();
      // Hold the lock until released or the tab goes away.
      return new Promise<void>((r) => (release = r));
    })
    .catch(() => {
      /* aborted while waiting */
    });
  return {
    get isLeader() {
      return isLeader;
    },
    whenLeader,
    release() {
      released = true;
      isLeader = false;
      abort.abort();
      release();
    },
  };
}
