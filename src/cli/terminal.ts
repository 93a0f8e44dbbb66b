import { once } from 'node:events';

/** Writes a chunk and waits for the stream to drain when its buffer is full. */
export async function writeWithBackpressure(stream: NodeJS.WritableStream, chunk: Buffer): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}
