import { DockerContainerRuntime } from '../adapters/docker/docker-container-runtime.js';
import { LocalDataStore } from '../adapters/local/local-data-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { DataStore } from '../ports/data-store.js';

/**
 * The adapters a command on this host runs on, built here so the CLI constructs none (app/ is the only
 * composition root): the Docker engine and the folder data store.
 */
export function openContainerRuntime(options: { dockerConfigDir?: string } = {}): ContainerRuntime {
  return new DockerContainerRuntime(
    options.dockerConfigDir === undefined ? {} : { dockerConfigDir: options.dockerConfigDir },
  );
}

/** The data store in `settings.storeDir`. */
export function openDataStore(settings: Pick<WorkerSettings, 'storeDir'>): DataStore {
  return new LocalDataStore(settings.storeDir);
}
