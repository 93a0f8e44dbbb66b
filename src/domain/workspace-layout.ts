import path from 'node:path';

/**
 * The per-invocation workspace (spec §2.1 and §2.4). The same layout exists on the host (where the
 * worker writes it) and in the container (where the action reads it); every path handed to the action
 * is a container path.
 */
export interface WorkspaceLayout {
  root: string;
  inputDir: string;
  outputDir: string;
  runtimeConfigDir: string;
  parametersFile: string;
  secretsFile: string;
  inputsManifest: string;
  fileChangesetFile: string;
  datasetChangesetDir: string;
  datasetChangesetFile: string;
}

/** Where the workspace is mounted in every action container. */
export const CONTAINER_WORKSPACE_ROOT = '/roboto/ws';

export function workspaceLayout(
  root: string,
  join: (...parts: string[]) => string = (...parts) => path.join(...parts),
): WorkspaceLayout {
  const inputDir = join(root, 'input');
  const outputDir = join(root, 'output');
  const runtimeConfigDir = join(root, '.roboto');
  const datasetChangesetDir = join(outputDir, '.metadata');
  return {
    root,
    inputDir,
    outputDir,
    runtimeConfigDir,
    parametersFile: join(runtimeConfigDir, 'action_parameters.json'),
    secretsFile: join(runtimeConfigDir, 'secrets.json'),
    inputsManifest: join(inputDir, 'action_inputs_manifest.json'),
    fileChangesetFile: join(runtimeConfigDir, 'file_metadata_changeset.jsonl'),
    datasetChangesetDir,
    datasetChangesetFile: join(datasetChangesetDir, 'dataset_metadata_changeset.json'),
  };
}

export function containerWorkspaceLayout(): WorkspaceLayout {
  return workspaceLayout(CONTAINER_WORKSPACE_ROOT, (...parts) => path.posix.join(...parts));
}

/** Relative paths inside output/ that are runtime plumbing and never uploaded. */
export const OUTPUT_METADATA_DIR = '.metadata';
