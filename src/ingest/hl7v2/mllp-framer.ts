/**
 * MLLP framing (HL7 v2 MLLP release 2: 0x0B message 0x1C 0x0D) over a byte stream, in time linear
 * in what arrives: each byte is looked at once, a message's bytes are kept as the chunks they came
 * in and joined once when its frame ends. A message that grows past maxBytes stops the stream (the
 * caller answers AR and closes), so one sender cannot make the service hold an unbounded buffer.
 */

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;
/** Enough of a message's start to read its MSH segment for the AR of an oversized message. */
const HEAD_BYTES = 2048;

export type FrameResult =
  | { kind: 'messages'; messages: Buffer[] }
  | { kind: 'too-large'; messages: Buffer[]; head: Buffer };

export class MllpFramer {
  readonly #maxBytes: number;
  #parts: Buffer[] = [];
  #length = 0;
  #inMessage = false;
  /** The previous chunk ended with 0x1C: the frame ends if this one starts with 0x0D. */
  #pendingFs = false;
  #failed = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds one chunk; returns the messages it completed (content only, without the framing). */
  push(chunk: Buffer): FrameResult {
    const messages: Buffer[] = [];
    if (this.#failed) return { kind: 'messages', messages };
    let i = 0;
    while (i < chunk.length) {
      if (!this.#inMessage) {
        // Bytes between frames are ignored, as receivers commonly do.
        const start = chunk.indexOf(VT, i);
        if (start < 0) break;
        this.#inMessage = true;
        this.#parts = [];
        this.#length = 0;
        i = start + 1;
        continue;
      }
      if (this.#pendingFs) {
        this.#pendingFs = false;
        if (chunk[i] === CR) {
          messages.push(this.#finish());
          i += 1;
          continue;
        }
        this.#append(Buffer.of(FS));
      }
      const fs = chunk.indexOf(FS, i);
      const end = fs < 0 ? chunk.length : fs;
      this.#append(chunk.subarray(i, end));
      // Checked before the frame can end: a complete message is refused as surely as an endless one.
      if (this.#length > this.#maxBytes) return { kind: 'too-large', messages, head: this.#fail() };
      if (fs < 0) i = chunk.length;
      else if (fs + 1 >= chunk.length) {
        this.#pendingFs = true;
        i = chunk.length;
      } else if (chunk[fs + 1] === CR) {
        messages.push(this.#finish());
        i = fs + 2;
      } else {
        this.#append(Buffer.of(FS));
        i = fs + 1;
      }
    }
    return { kind: 'messages', messages };
  }

  /** The head of the message being received, once it is known to be too large. */
  #fail(): Buffer {
    this.#failed = true;
    const first: Buffer[] = [];
    let kept = 0;
    for (const part of this.#parts) {
      if (kept >= HEAD_BYTES) break;
      first.push(part.subarray(0, HEAD_BYTES - kept));
      kept += Math.min(part.length, HEAD_BYTES - kept);
    }
    this.#parts = [];
    return Buffer.concat(first);
  }

  #append(b: Buffer): void {
    if (b.length === 0) return;
    // Only the head of an oversized message is ever needed: stop keeping bytes past the limit.
    if (this.#length <= this.#maxBytes) this.#parts.push(b);
    this.#length += b.length;
  }

  #finish(): Buffer {
    const message = Buffer.concat(this.#parts, this.#length);
    this.#parts = [];
    this.#length = 0;
    this.#inMessage = false;
    return message;
  }
}
