import type { OutputStream } from '../../ports/container-runtime.js';

const HEADER_BYTES = 8;

/**
 * Splits Docker's multiplexed attach stream (an 8-byte header per frame: stream type, then the payload
 * size big-endian) into stdout and stderr. Reading with `for await` and awaiting the consumer gives
 * backpressure: a slow consumer pauses the socket instead of growing a buffer.
 */
export async function demuxStream(
  stream: AsyncIterable<Buffer>,
  onFrame: (stream: OutputStream, payload: Buffer) => Promise<void>,
): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= HEADER_BYTES) {
      const size = pending.readUInt32BE(4);
      if (pending.length < HEADER_BYTES + size) break;
      const type = pending[0] === 2 ? 'stderr' : 'stdout';
      const payload = pending.subarray(HEADER_BYTES, HEADER_BYTES + size);
      pending = pending.subarray(HEADER_BYTES + size);
      if (payload.length > 0) await onFrame(type, payload);
    }
  }
}
