/**
 * The model registry as the app's `registry`: the one given, or the PostgreSQL registry when
 * REGISTRY_URL is set, the file registry when REGISTRY_DIR is, or else the in-memory one; with
 * the demo models registered.
 */
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { DEMO_MODEL_ID, demoModelDocument, pendulumModels } from './demo.js';
import { createModel } from '../kernels/index.js';
import { PreconditionFailedError, RegistryFullError } from '../errors.js';
import { modelFromDocument } from './documents.js';
import { createFileRegistry } from './file-registry.js';
import { createPostgresRegistry, redactUrl } from './postgres-registry.js';
import { createMemoryRegistry, type ModelRegistry, type NewModel } from './registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    readonly config: Config;
    readonly registry: ModelRegistry;
  }
}

export const registryPlugin = fp(
  async (app, { registry }: { registry?: ModelRegistry }) => {
    const { config } = app;
    // The first line of the log: where the models live, and whether they outlive the process.
    if (registry === undefined) {
      if (config.REGISTRY_URL)
        app.log.info({ registry: 'postgres', url: redactUrl(config.REGISTRY_URL) }, `registry: PostgreSQL at ${redactUrl(config.REGISTRY_URL)}, shared by every replica`);
      else if (config.REGISTRY_DIR) app.log.info({ registry: 'files', dir: config.REGISTRY_DIR }, `registry: one file per model in ${config.REGISTRY_DIR}; models survive restarts`);
      else app.log.info({ registry: 'memory' }, 'registry: in memory; models are lost when the process stops (set REGISTRY_DIR to keep them)');
    }
    const limits = { capacity: config.MAX_MODELS, capacityBytes: config.MAX_REGISTRY_BYTES, maxVersions: config.MAX_MODEL_VERSIONS };
    const models =
      registry ??
      (config.REGISTRY_URL
        ? await createPostgresRegistry({
            ...limits,
            url: config.REGISTRY_URL,
            cacheBytes: config.MODEL_CACHE_BYTES,
            log: { info: (details, message) => app.log.info(details, message), warn: (details, message) => app.log.warn(details, message) },
          })
        : config.REGISTRY_DIR
        ? await createFileRegistry({
            ...limits,
            dir: config.REGISTRY_DIR,
            maxModelWeights: config.MAX_MODEL_WEIGHTS,
            warn: (details, message) => app.log.warn(details, message),
          })
        : createMemoryRegistry(limits));
    // If-None-Match: * makes the first version only: replicas starting at once on one database make one.
    const addOnce = async (entry: NewModel & { id: string }) => {
      if ((await models.get(entry.id)) !== undefined) return;
      await models.put(entry.id, entry, { ifNoneMatch: '*' }).catch((error: unknown) => {
        if (!(error instanceof PreconditionFailedError)) throw error;
      });
    };
    await addOnce({ id: DEMO_MODEL_ID, name: demoModelDocument.name, model: modelFromDocument(demoModelDocument, { maxModelWeights: Number.POSITIVE_INFINITY }) });
    for (const parameters of pendulumModels) {
      try {
        await addOnce({ id: parameters.name, name: parameters.name, model: createModel(parameters) });
      } catch (error) {
        // A registry with room for fewer models (MAX_MODELS) keeps it for the user's own.
        if (!(error instanceof RegistryFullError)) throw error;
        app.log.warn({ model: parameters.name }, `registry: no room for the demo model ${parameters.name} (MAX_MODELS); /flows examples that name it will get 404`);
        break;
      }
    }
    if (registry === undefined && (config.REGISTRY_DIR || config.REGISTRY_URL)) app.log.info({ registry: models.status().store, models: await models.count() }, 'registry: models loaded');
    app.decorate('registry', models);
    app.addHook('onClose', async () => {
      await models.close();
    });
  },
  { name: 'registry' },
);
