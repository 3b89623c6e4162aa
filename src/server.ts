/** The process: configuration, logger, listening, and a graceful close on SIGTERM or SIGINT. */
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

const config = readConfig();
const app = await buildApp({
  config,
  logger: {
    level: config.LOG_LEVEL,
    // JSON for machines; readable lines only when a person is watching a terminal.
    ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty' } } : {}),
  },
});

// On SIGTERM or SIGINT: stop accepting connections, let in-flight requests finish, exit 0. If they
// take longer than SHUTDOWN_GRACE_MS, close-with-grace exits with code 1.
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'closing: finishing in-flight requests');
  await app.close();
  app.log.info('closed');
});

await app.listen({ host: config.HOST, port: config.PORT });
