/** Request bodies as the Roboto SDK sends them: every key present, null where the caller gave nothing. */

/** The SDK's minimal action create body (spec A1): all twelve keys. */
export const minimalActionBody = (name: string, uri: string | null) => ({
  name,
  compute_requirements: null,
  container_parameters: null,
  description: null,
  inherits: null,
  metadata: {},
  parameters: [],
  requires_downloaded_inputs: null,
  short_description: null,
  tags: [],
  timeout: null,
  uri,
});

/** The SDK's minimal trigger create body (spec T1): all fifteen keys, with these changed. */
export const minimalTriggerBody = (name: string, extra: Record<string, unknown> = {}) => ({
  action_digest: null,
  action_name: 'tag-dataset',
  action_owner_id: null,
  additional_inputs: null,
  causes: null,
  compute_requirement_overrides: null,
  condition: null,
  container_parameter_overrides: null,
  enabled: true,
  for_each: 'dataset',
  name,
  parameter_values: null,
  required_inputs: ['**/*.bag'],
  service_user_id: null,
  timeout: null,
  ...extra,
});

/** The body the SDK sends for a plain `action.invoke()` (spec A8), with these keys changed. */
export const invokeBody = (extra: Record<string, unknown> = {}) => ({
  compute_requirement_overrides: null,
  container_parameter_overrides: null,
  data_source_id: '__UNSPECIFIED_DATA_SOURCE__',
  data_source_type: 'Dataset',
  idempotency_id: null,
  input_data: [],
  rich_input_data: null,
  invocation_source: 'Manual',
  invocation_source_id: null,
  parameter_values: null,
  timeout: null,
  upload_destination: null,
  ...extra,
});
