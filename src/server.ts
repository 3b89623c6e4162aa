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

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'closing');
  await app.close();
});

await app.listen({ host: config.HOST, port: config.PORT });
