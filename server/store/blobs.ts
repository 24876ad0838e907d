/** Update blobs between the Store's Uint8Arrays and the drivers' Buffers, without copying. */

/** A Uint8Array as a Buffer over the same memory (what the drivers bind). */
export const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A Buffer the driver returned as a plain Uint8Array over the same memory. */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
