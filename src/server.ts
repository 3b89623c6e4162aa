/** The process: configuration, logger, listening, and a graceful close on SIGTERM or SIGINT. */
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/** A bad configuration stops the process with its message, naming the variable, and no stack. */
function refuse(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const config = (() => {
  try {
    return loadConfig();
  } catch (error) {
    return refuse(error);
  }
})();
const app = await buildApp({
  config,
  logger: {
    level: config.LOG_LEVEL,
    // JSON for machines; readable lines only when a person is watching a terminal.
    ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty' } } : {}),
  },
}).catch(refuse);

// On SIGTERM or SIGINT: stop accepting connections, close idle ones, let requests that make
// progress finish; bodies that cannot arrive in time, work still running near the end of
// SHUTDOWN_GRACE_MS and answers nobody reads are cut off (see the body, compute and answers
// plugins). Then exit 0; if closing still outlasts the grace period, close-with-grace exits 1.
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'closing: finishing in-flight requests');
  await app.close();
  app.log.info('closed');
});

await app.listen({ host: config.HOST, port: config.PORT });
