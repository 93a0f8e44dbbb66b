import { type ComputeRequirements, effectiveComputeRequirements } from '../domain/compute-requirements.js';
import { mergeContainerParameters } from '../domain/container-parameters.js';
import type { InvocationRequest } from '../domain/invocation-request.js';
import type { ImageSource, InvocationPlan } from './invocation-plan.js';

/**
 * A local action directory whose Dockerfile is built as the request's image (its reference is the tag).
 * Never part of the request: a path on this host means nothing to a worker elsewhere.
 */
export interface LocalImageBuild {
  contextDir: string;
  dockerfile: string;
}

/** What turns a request into one attempt's plan, besides the request itself. */
export interface PlanContext {
  invocationId: string;
  attempt: number;
  /** The worker's timeout when neither the request nor the action names one. */
  defaultTimeoutMinutes: number;
  /** `run ACTION_DIR`: build the image instead of pulling or finding it. */
  build?: LocalImageBuild;
}

/** The compute requirements the invocation runs with: the request's overrides, else the action's. */
export function requirementsOf(request: InvocationRequest): ComputeRequirements {
  return effectiveComputeRequirements(
    request.action.config.compute_requirements,
    request.compute_requirement_overrides,
  );
}

/**
 * How long the action may run: the request's exact duration, else its whole minutes, else the action's,
 * else the worker's default.
 */
export function timeoutMsOf(request: InvocationRequest, defaultTimeoutMinutes: number): number {
  if (request.timeout_ms !== null) return request.timeout_ms;
  const minutes = request.timeout_minutes ?? request.action.config.timeout ?? defaultTimeoutMinutes;
  return minutes * 60_000;
}

/**
 * One attempt of an invocation, from its request: the one way from what `invoke` queues or `run` is given
 * to what the pipeline runs, so both resolve overrides, timeout and image alike.
 */
export function planFromRequest(request: InvocationRequest, context: PlanContext): InvocationPlan {
  const action = request.action.config;
  const image: ImageSource =
    context.build === undefined
      ? { kind: 'reference', reference: request.action.image }
      : { kind: 'build', ...context.build, tag: request.action.image };
  return {
    invocationId: context.invocationId,
    attempt: context.attempt,
    orgId: request.org_id,
    action,
    image,
    parameterValues: request.parameter_values,
    input: request.input,
    dataSourceId: request.data_source_id,
    uploadDestinationId: request.upload_destination_id,
    computeRequirements: requirementsOf(request),
    containerParameters: mergeContainerParameters(
      action.container_parameters,
      request.container_parameter_overrides,
    ),
    timeoutMs: timeoutMsOf(request, context.defaultTimeoutMinutes),
    isDryRun: request.dry_run,
    logLevel: request.log_level,
  };
}
