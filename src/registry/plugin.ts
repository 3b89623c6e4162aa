/**
 * The model registry as the app's `registry`: the one given, or the file registry when
 * REGISTRY_DIR is set, or else the in-memory one; with the demo model registered.
 */
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { DEMO_MODEL_ID, demoModelDocument } from './demo.js';
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
    const models =
      registry ??
      (config.REGISTRY_DIR
        ? await createFileRegistry({
            dir: config.REGISTRY_DIR,
            capacity: config.MAX_MODELS,
            capacityBytes: config.MAX_REGISTRY_BYTES,
            maxModelWeights: config.MAX_MODEL_WEIGHTS,
            warn: (details, message) => app.log.warn(details, message),
          })
        : createMemoryRegistry({ capacity: config.MAX_MODELS, capacityBytes: config.MAX_REGISTRY_BYTES }));
    if ((await models.get(DEMO_MODEL_ID)) === undefined) {
      const model = modelFromDocument(demoModelDocument, { maxModelWeights: Number.POSITIVE_INFINITY });
      await models.add({ id: DEMO_MODEL_ID, name: demoModelDocument.name, model });
    }
    app.decorate('registry', models);
    app.addHook('onClose', async () => {
      await models.close();
    });
  },
  { name: 'registry' },
);
