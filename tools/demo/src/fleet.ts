import { runFleetDemo } from './fleet-demo.js';

console.log(
  'mlstls fleet demo: two responder processes share their sessions in Redis; a connection\n' +
    'made with one breaks and resumes on the other\n',
);
const timeout = setTimeout(() => {
  console.error('demo:fleet: no result within 120 s');
  process.exit(1);
}, 120_000);
try {
  const { ok } = await runFleetDemo({
    redisUrl: process.env.REDIS_URL,
    log: (line) => console.log(line),
  });
  clearTimeout(timeout);
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  clearTimeout(timeout);
  console.error(
    'demo:fleet failed:',
    error instanceof Error ? `${error.name}: ${error.message}` : error,
  );
  process.exitCode = 1;
}
