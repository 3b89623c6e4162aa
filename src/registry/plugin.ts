/**
 * The model registry as the app's `registry`: the one given, or the file registry when
 * REGISTRY_DIR is set, or else the in-memory one; with the demo model registered.
 */
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { DEMO_MODEL_ID, demoModelDocument, pendulumModels } from './demo.js';
import { createModel } from '../kernels/index.js';
import { RegistryFullError } from '../errors.js';
import { modelFromDocument } from './documents.js';
import { createFileRegistry } from './file-registry.js';
import { createMemoryRegistry, type ModelRegistry } from './registry.js';

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
      if (config.REGISTRY_DIR) app.log.info({ registry: 'files', dir: config.REGISTRY_DIR }, `registry: one file per model in ${config.REGISTRY_DIR}; models survive restarts`);
      else app.log.info({ registry: 'memory' }, 'registry: in memory; models are lost when the process stops (set REGISTRY_DIR to keep them)');
    }
    const models =
      registry ??
      (config.REGISTRY_DIR
        ? await createFileRegistry({
            dir: config.REGISTRY_DIR,
            capacity: config.MAX_MODELS,
            capacityBytes: config.MAX_REGISTRY_BYTES,
            maxVersions: config.MAX_MODEL_VERSIONS,
            maxModelWeights: config.MAX_MODEL_WEIGHTS,
            warn: (details, message) => app.log.warn(details, message),
          })
        : createMemoryRegistry({ capacity: config.MAX_MODELS, capacityBytes: config.MAX_REGISTRY_BYTES, maxVersions: config.MAX_MODEL_VERSIONS }));
    if ((await models.get(DEMO_MODEL_ID)) === undefined) {
      const model = modelFromDocument(demoModelDocument, { maxModelWeights: Number.POSITIVE_INFINITY });
      await models.add({ id: DEMO_MODEL_ID, name: demoModelDocument.name, model });
    }
    for (const parameters of pendulumModels) {
      if ((await models.get(parameters.name)) !== undefined) continue;
      try {
        await models.add({ id: parameters.name, name: parameters.name, model: createModel(parameters) });
      } catch (error) {
        // A registry with room for fewer models (MAX_MODELS) keeps it for the user's own.
        if (!(error instanceof RegistryFullError)) throw error;
        app.log.warn({ model: parameters.name }, `registry: no room for the demo model ${parameters.name} (MAX_MODELS); /flows examples that name it will get 404`);
        break;
      }
    }
    if (registry === undefined && config.REGISTRY_DIR) app.log.info({ registry: 'files', models: await models.count() }, 'registry: models loaded');
    app.decorate('registry', models);
    app.addHook('onClose', async () => {
      await models.close();
    });
  },
  { name: 'registry' },
);
