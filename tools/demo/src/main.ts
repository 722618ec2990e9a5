import { runDemo } from './demo.js';

console.log(
  'mlstls demo: an MLS handshake, data, PCS updates and a key update over loopback TCP; then the\n' +
    'transport breaks and the session resumes from SQLite\n',
);
const timeout = setTimeout(() => {
  console.error('demo: no result within 60 s');
  process.exit(1);
}, 60_000);
try {
  const { ok } = await runDemo({ log: (line) => console.log(line) });
  clearTimeout(timeout);
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  clearTimeout(timeout);
  console.error('demo failed:', error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
}
