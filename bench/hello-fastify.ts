// The baseline of bench/api-latency.ts: a Fastify hello-world in a process of its own, the same Fastify as
// `serve`, default options (no logger). Prints its port on stdout once it listens; ends on SIGTERM.
import Fastify from 'fastify';

const app = Fastify();
app.get('/', () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`${String(typeof address === 'object' && address !== null ? address.port : 0)}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
