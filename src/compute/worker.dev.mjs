// The worker's entry when the service runs from its TypeScript sources (tests, npm run bench:http):
// it registers tsx, which is a dev dependency, then loads the worker itself. The compiled service
// loads worker.js directly.
import { register } from 'tsx/esm/api';

register();
export default (await import('./worker.ts')).default;
