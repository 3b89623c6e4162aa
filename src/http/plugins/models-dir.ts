/**
 * MODELS_DIR: models declared as files, registered at start-up. This is how KServe hands a model
 * server its models (the storage URI mounted at /mnt/models), and how a deployment declares its
 * models without API calls.
 *
 * In the folder (not its subfolders), each model is one file named after it:
 *   <name>.json          a model document, as POST /models takes it
 *   <name>.npz           numpy's W, b, w, mu, with its options (h, activation, …) in <name>.options.json
 *   <name>.safetensors   its options in __metadata__, or in <name>.options.json
 * A name is letters, digits, '.', '_' and '-'. A model is registered as version 1 when the
 * registry has no model of that name (If-None-Match: *): a shared registry, or a REGISTRY_DIR that
 * outlived the process, keeps what it has. A file that does not load is logged and skipped, never
 * fatal; /health/ready reports how many loaded and which were skipped.
 */
import fp from 'fastify-plugin';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesSource } from '../../codecs/source.js';
import { readJsonModel } from '../../codecs/models.js';
import { NPZ_MEDIA_TYPE, OPTION_KEYS, readWeights, SAFETENSORS_MEDIA_TYPE, type WeightOptions } from '../../codecs/tensors/weights.js';
import { ConfigError } from '../../config.js';
import { PreconditionFailedError } from '../../errors.js';
import { buildModel, type ModelDocument } from '../../registry/documents.js';
import { CreateModelBody } from '../schemas/models.js';
import { MAX_MODEL_FILE_TENSORS } from '../../codecs/tensors/tensor.js';

export interface ModelsDirReport {
  readonly dir: string;
  readonly loaded: readonly string[];
  readonly skipped: readonly { readonly file: string; readonly reason: string }[];
}

declare module 'fastify' {
  interface FastifyInstance {
    /** What MODELS_DIR held, when it is set. */
    readonly modelsDir: ModelsDirReport | null;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const KINDS = { '.json': 'json', '.npz': NPZ_MEDIA_TYPE, '.safetensors': SAFETENSORS_MEDIA_TYPE } as const;
const OPTIONS_SUFFIX = '.options.json';

/** A sidecar's options as the weight reader takes them: text, as a query string gives them. */
async function sidecar(path: string): Promise<WeightOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const options = JSON.parse(text) as Record<string, unknown>;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new Error(`${path} is not a JSON object of options`);
  const unknown = Object.keys(options).filter((key) => !(OPTION_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) throw new Error(`${path}: ${unknown[0]} is not an option (${OPTION_KEYS.join(', ')})`);
  return Object.fromEntries(Object.entries(options).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}

export const modelsDirPlugin = fp(
  async (app) => {
    const dir = app.config.MODELS_DIR;
    if (dir === undefined) {
      app.decorate('modelsDir', null);
      return;
    }
    let entries: string[];
    try {
      entries = (await readdir(dir)).sort();
    } catch (error) {
      throw new ConfigError(`MODELS_DIR: cannot read the folder ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const limits = { maxModelWeights: app.config.MAX_MODEL_WEIGHTS };
    const tensorLimits = { maxElements: app.config.MAX_MODEL_WEIGHTS, maxTensors: MAX_MODEL_FILE_TENSORS };
    const loaded: string[] = [];
    const skipped: { file: string; reason: string }[] = [];
    for (const file of entries) {
      if (file.endsWith(OPTIONS_SUFFIX)) continue;
      const extension = Object.keys(KINDS).find((suffix) => file.endsWith(suffix)) as keyof typeof KINDS | undefined;
      if (extension === undefined) continue;
      const name = file.slice(0, -extension.length);
      const path = join(dir, file);
      try {
        if (!NAME.test(name)) throw new Error(`${name} is not a model name (letters, digits, '.', '_' and '-')`);
        const stat = await lstat(path);
        if (!stat.isFile()) throw new Error('not a regular file');
        const bytes = await readFile(path);
        const kind = KINDS[extension];
        const document: ModelDocument =
          kind === 'json'
            ? await readJsonModel(bytesSource(bytes), CreateModelBody, limits.maxModelWeights, (length) => new Float64Array(length))
            : readWeights(kind, bytes, await sidecar(join(dir, `${name}${OPTIONS_SUFFIX}`)), tensorLimits);
        const model = await buildModel(document, limits, (size) => app.registry.checkRoom(size, name));
        try {
          await app.registry.put(name, { model, name: document.name ?? name }, { ifNoneMatch: '*' });
          loaded.push(name);
        } catch (error) {
          if (!(error instanceof PreconditionFailedError)) throw error;
          skipped.push({ file, reason: `the registry has a model '${name}' already; it is kept` });
        }
      } catch (error) {
        skipped.push({ file, reason: (error as Error).message });
      }
    }
    for (const { file, reason } of skipped) app.log.warn({ modelsDir: dir, file, reason }, `MODELS_DIR: skipped ${file}: ${reason}`);
    app.log.info({ modelsDir: dir, loaded: loaded.length, skipped: skipped.length }, `MODELS_DIR: registered ${loaded.length} model(s) from ${dir}`);
    app.decorate('modelsDir', { dir, loaded, skipped });
  },
  { name: 'models-dir', dependencies: ['registry'] },
);
