import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInvocationRequest } from '../../src/app/invocations.js';
import { collectParameterValues, collectSecrets } from '../../src/app/local-run-options.js';
import { ActionParameter, parseActionConfigJson } from '../../src/domain/action-config.js';
import { ContainerParameters } from '../../src/domain/container-parameters.js';
import { UsageError, formatZodError } from '../../src/domain/errors.js';
import { failureReasonFor, isRetryable } from '../../src/domain/failure.js';
import { InvocationRequest } from '../../src/domain/invocation-request.js';
import { envVarNameProblem } from '../../src/domain/names.js';
import { validateParameters } from '../../src/domain/parameters.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { invokeOptions } from '../support/invoke-options.js';

afterAll(removeTempDirs);

const request = (extra: Record<string, unknown>) => ({
  action: { image: 'img:1', config: { name: 'act' } },
  org_id: 'og_1',
  ...extra,
});

/** The one readable message a failed parse turns into. */
function messageOf(result: { success: boolean; error?: Parameters<typeof formatZodError>[0] }): string {
  expect(result.success).toBe(false);
  return formatZodError(result.error as Parameters<typeof formatZodError>[0], 'request');
}

describe('environment variable names (container_parameters.env_vars)', () => {
  it.each(['A', 'a', '_', 'MY_VAR', 'var_2', 'ROBOTO_LOG_LEVEL', '_x9', 'constructor'])(
    'accepts %j',
    (name) => {
      expect(envVarNameProblem(name)).toBeUndefined();
      expect(ContainerParameters.parse({ env_vars: { [name]: 'v' } }).env_vars).toEqual({ [name]: 'v' });
    },
  );

  it.each(['', '1A', 'A B', 'A=B', 'A\0B', 'A-B', 'a.b', 'Ä', ' A', 'A\n', '=x'])('refuses %j', (name) => {
    expect(envVarNameProblem(name)).toContain('not a valid environment variable name');
    const message = messageOf(ContainerParameters.safeParse({ env_vars: { [name]: 'v' } }));
    expect(message).toContain('not a valid environment variable name');
  });

  it('refuses "__proto__", which a plain record would drop without a word', () => {
    const raw = JSON.parse('{"env_vars": {"__proto__": "x", "OK": "1"}}') as unknown;
    expect(messageOf(ContainerParameters.safeParse(raw))).toContain('env_vars.__proto__');
  });

  it('refuses a NUL in a value', () => {
    expect(messageOf(ContainerParameters.safeParse({ env_vars: { A: 'x\0y' } }))).toContain('NUL');
  });

  it('is bad input in action.json, in an invocation request and in its override: never retried', () => {
    expect(() =>
      parseActionConfigJson(
        JSON.stringify({ name: 'act', container_parameters: { env_vars: { 'A B': '1' } } }),
      ),
    ).toThrow(/container_parameters\.env_vars\.A B: "A B" is not a valid environment variable name/);
    let thrown: unknown;
    try {
      parseActionConfigJson(
        JSON.stringify({ name: 'act', container_parameters: { env_vars: { '=x': '1' } } }),
      );
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    const code = (thrown as UsageError).code;
    expect(isRetryable(failureReasonFor(code))).toBe(false);
    // A job payload from Redis: the daemon fails it for good before any engine call.
    expect(
      messageOf(
        InvocationRequest.safeParse(request({ container_parameter_overrides: { env_vars: { '1X': 'v' } } })),
      ),
    ).toContain('container_parameter_overrides.env_vars.1X');
  });
});

describe('reserved parameter names (__proto__, constructor, prototype)', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('refuses %s declared in action.json', (name) => {
    const result = ActionParameter.safeParse({ name });
    expect(messageOf(result)).toContain(`"${name}" cannot be a parameter name`);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses %s in a job payload, naming it', (name) => {
    // JSON.parse makes "__proto__" an own key, as a record read back from Redis has it.
    const raw = JSON.parse(`{"${name}": "x", "ok": "1"}`) as unknown;
    const message = messageOf(InvocationRequest.safeParse(request({ parameter_values: raw })));
    expect(message).toContain(`parameter_values.${name}: "${name}" cannot be a parameter name`);
  });

  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses --param %s=x and a params file holding it',
    async (name) => {
      await expect(collectParameterValues([`${name}=x`])).rejects.toThrow(
        `--param: "${name}" cannot be a parameter name`,
      );
      const file = path.join(await tempDir('params'), 'params.json');
      await writeFile(file, `{"ok": 1, "${name}": 2}`);
      await expect(collectParameterValues([], file)).rejects.toThrow(`"${name}" cannot be a parameter name`);
      await expect(collectSecrets([`${name}=literal:v`], {}, {})).rejects.toThrow(
        `--secret: "${name}" cannot be a parameter name`,
      );
    },
  );

  it.each(['__proto__', 'constructor'])('refuses invoke --param and --secret %s', async (name) => {
    const base = invokeOptions({ image: 'img:1' });
    await expect(buildInvocationRequest({ ...base, params: [`${name}=x`] }, {})).rejects.toThrow(
      'cannot be a parameter name',
    );
    await expect(buildInvocationRequest({ ...base, secrets: [`${name}=key`] }, {})).rejects.toThrow(
      'cannot be a parameter name',
    );
  });

  it('leaves names that merely shadow Object.prototype to be ordinary data', async () => {
    const values = await collectParameterValues(['toString=a', 'hasOwnProperty=b']);
    expect(values).toEqual({ toString: 'a', hasOwnProperty: 'b' });
    // Not given: a required "toString" is missing, not satisfied by the inherited function.
    const declared = [ActionParameter.parse({ name: 'valueOf', required: true })];
    expect(() => {
      validateParameters(declared, {}, 'act');
    }).toThrow('missing required parameter(s) of action "act": valueOf');
    // A secret named like an inherited function is not "given twice".
    const secrets = await collectSecrets(['isPrototypeOf=literal:v'], {}, {});
    expect([...secrets]).toEqual([['isPrototypeOf', 'v']]);
  });
});
