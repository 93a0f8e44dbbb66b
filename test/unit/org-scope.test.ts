import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/api/errors.js';
import { resolveOrgScope } from '../../src/api/org-scope.js';

const refusal = (run: () => unknown): { status: number; code: string; message: string } => {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpError)
      return { status: error.status, code: error.errorCode, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('org headers against what the token allows (spec §1.12)', () => {
  it("defaults the caller org to the token's one org, and the owner org to the caller org", () => {
    expect(resolveOrgScope({}, ['og_a'])).toEqual({ callerOrgId: 'og_a', ownerOrgId: 'og_a' });
  });

  it('takes a caller header naming an org of the token', () => {
    expect(resolveOrgScope({ 'x-roboto-org-id': 'og_b' }, ['og_a', 'og_b'])).toEqual({
      callerOrgId: 'og_b',
      ownerOrgId: 'og_b',
    });
  });

  it('refuses a caller header naming another org (the attack: acting in an org the token is not in)', () => {
    expect(refusal(() => resolveOrgScope({ 'x-roboto-org-id': 'og_victim' }, ['og_a']))).toMatchObject({
      status: 403,
      code: 'RobotoUnauthorizedException',
    });
  });

  it('asks a token of several orgs to say which, in words older clients recognise', () => {
    const answer = refusal(() => resolveOrgScope({}, ['og_a', 'og_b']));
    expect(answer).toMatchObject({ status: 400, code: 'RobotoNoOrgProvidedException' });
    expect(answer.message).toContain('did not provide a org for single-org operation');
  });

  it('refuses a token of no org', () => {
    expect(refusal(() => resolveOrgScope({}, []))).toMatchObject({ status: 403 });
  });

  it('passes an owner header through for the route to authorize (an action_hub action of another org)', () => {
    expect(resolveOrgScope({ 'x-roboto-resource-owner-id': 'og_hub' }, ['og_a'])).toEqual({
      callerOrgId: 'og_a',
      ownerOrgId: 'og_hub',
    });
  });

  it('treats an empty header as absent and refuses one given twice', () => {
    expect(resolveOrgScope({ 'x-roboto-org-id': ' ' }, ['og_a']).callerOrgId).toBe('og_a');
    expect(
      refusal(() => resolveOrgScope({ 'x-roboto-org-id': ['og_a', 'og_b'] }, ['og_a', 'og_b'])),
    ).toMatchObject({
      status: 400,
    });
  });
});
