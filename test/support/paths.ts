import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = path.join(projectRoot, 'test', 'fixtures');
export const examplesDir = path.join(projectRoot, 'examples');
export const cliPath = path.join(projectRoot, 'bin', 'action-worker.js');
export const BASE_IMAGE = 'action-worker/busybox:latest';
