/**
 * A minimal reader of Yjs V1 updates: the struct headers and the delete set, with content
 * skipped rather than decoded (no Items, strings or JSON values are built). `Y.decodeUpdate`
 * builds all of them; the relay only needs where sections end, which clocks they cover, and
 * what they delete — for batch rows (room/disjoint-merge.ts) and compaction (snapshot-coverage.ts).
 *
 * Anything it does not expect throws `UNEXPECTED_UPDATE`: the caller then falls back to Yjs.
 */

/** Thrown by the walker on anything it does not expect; means "ask Yjs instead". */
export const UNEXPECTED_UPDATE = new Error('unexpected update shape');

/** Struct ref of a Skip (a gap in a merged update): no content, only a length. */
export const SKIP_REF = 10;

/** A V1 reader over one update at a time; every read checks bounds. */
export class UpdateWalker {
  pos = 0;
  arr: Uint8Array = new Uint8Array(0);

  /** Starts reading `update` from its first byte. */
  reset(update: Uint8Array): this {
    this.arr = update;
    this.pos = 0;
    return this;
  }

  uint(): number {
    const arr = this.arr;
    let num = 0;
    let mult = 1;
    while (this.pos < arr.length) {
      const r = arr[this.pos++]!;
      num += (r & 0x7f) * mult;
      if (r < 0x80) return num;
      mult *= 128;
      if (num > Number.MAX_SAFE_INTEGER) throw UNEXPECTED_UPDATE;
    }
    throw UNEXPECTED_UPDATE;
  }

  /** Skips a signed or unsigned varint (both end at the first byte without bit 8). */
  skipVarInt(): void {
    const arr = this.arr;
    while (this.pos < arr.length) if (arr[this.pos++]! < 0x80) return;
    throw UNEXPECTED_UPDATE;
  }

  byte(): number {
    if (this.pos >= this.arr.length) throw UNEXPECTED_UPDATE;
    return this.arr[this.pos++]!;
  }

  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.arr.length) throw UNEXPECTED_UPDATE;
  }

  /** Skips a varString / varUint8Array (byte length, then bytes). */
  skipBytes(): void {
    this.skip(this.uint());
  }

  /** Skips a lib0 `readAny` value. */
  skipAny(): void {
    switch (this.byte()) {
      case 127: // undefined
      case 126: // null
      case 121: // false
      case 120: // true
        return;
      case 125: // varint
        return this.skipVarInt();
      case 124: // float32
        return this.skip(4);
      case 123: // float64
      case 122: // bigint64
        return this.skip(8);
      case 119: // string
      case 116: // Uint8Array
        return this.skipBytes();
      case 118: {
        // object: key string, value
        for (let n = this.uint(); n > 0; n--) {
          this.skipBytes();
          this.skipAny();
        }
        return;
      }
      case 117: {
        for (let n = this.uint(); n > 0; n--) this.skipAny();
        return;
      }
      default:
        throw UNEXPECTED_UPDATE; // readAny would throw too
    }
  }

  /**
   * Skips one struct (after its info byte) as `readClientsStructRefs` reads it and returns
   * how many clocks it covers; NaN for a string, whose length counts UTF-16 units the bytes
   * do not give without decoding (thread documents hold none: the policy refuses them).
   */
  struct(info: number): number {
    const ref = info & 0x1f;
    if (ref === 0 || ref === SKIP_REF) return this.uint(); // GC or Skip: len
    if (info & 0x80) this.skipId(); // origin
    if (info & 0x40) this.skipId(); // right origin
    if ((info & 0xc0) === 0) {
      // No origin to copy the parent from: parent info, then a root key or the parent's ID.
      if (this.uint() === 1) this.skipBytes();
      else this.skipId();
      if (info & 0x20) this.skipBytes(); // parentSub
    }
    switch (ref) {
      case 1: // Deleted: len
        return this.uint();
      case 2: {
        // JSON: len strings
        const n = this.uint();
        for (let i = n; i > 0; i--) this.skipBytes();
        return n;
      }
      case 3: // Binary
      case 5: // Embed (JSON string)
        this.skipBytes();
        return 1;
      case 4: // String
        this.skipBytes();
        return NaN;
      case 6: // Format: key, JSON string
        this.skipBytes();
        this.skipBytes();
        return 1;
      case 7: {
        // Type: type ref; XmlElement (3) and XmlHook (5) carry a name.
        const typeRef = this.uint();
        if (typeRef === 3 || typeRef === 5) this.skipBytes();
        else if (typeRef > 6) throw UNEXPECTED_UPDATE;
        return 1;
      }
      case 8: {
        // Any: len values
        const n = this.uint();
        for (let i = n; i > 0; i--) this.skipAny();
        return n;
      }
      case 9: // Doc: guid, options
        this.skipBytes();
        this.skipAny();
        return 1;
      default:
        throw UNEXPECTED_UPDATE;
    }
  }

  private skipId(): void {
    this.skipVarInt();
    this.skipVarInt();
  }
}
