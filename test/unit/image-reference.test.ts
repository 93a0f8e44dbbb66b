import { describe, expect, it } from 'vitest';
import { ActionConfig } from '../../src/domain/action-config.js';
import { UsageError } from '../../src/domain/errors.js';
import { failureReasonFor, isRetryable } from '../../src/domain/failure.js';
import {
  assertImageReference,
  isImagePathComponent,
  isImageReference,
  parseImageReference,
} from '../../src/domain/image-reference.js';
import { InvocationRequest } from '../../src/domain/invocation-request.js';

const SHA256 = 'a'.repeat(64);

describe('parseImageReference', () => {
  it.each([
    ['busybox', { domain: null, path: 'busybox', tag: null, digest: null }],
    ['busybox:1.36', { domain: null, path: 'busybox', tag: '1.36', digest: null }],
    ['action-worker/busybox:latest', { domain: null, path: 'action-worker/busybox', tag: 'latest' }],
    ['library/ubuntu', { domain: null, path: 'library/ubuntu' }],
    ['docker.io/library/ubuntu:22.04', { domain: 'docker.io', path: 'library/ubuntu', tag: '22.04' }],
    ['localhost/act', { domain: 'localhost', path: 'act' }],
    ['localhost:5000/act:1', { domain: 'localhost:5000', path: 'act', tag: '1' }],
    ['127.0.0.1:5000/team/act', { domain: '127.0.0.1:5000', path: 'team/act', tag: null }],
    ['Registry.Example.com/act', { domain: 'Registry.Example.com', path: 'act' }],
    ['[::1]:5000/act', { domain: '[::1]:5000', path: 'act' }],
    ['my-registry/a__b.c-d---e/f_g', { domain: null, path: 'my-registry/a__b.c-d---e/f_g' }],
    ['act:Tag_1.0-rc', { path: 'act', tag: 'Tag_1.0-rc' }],
    [`act@sha256:${SHA256}`, { path: 'act', tag: null, digest: `sha256:${SHA256}` }],
    [`act:1@sha256:${SHA256}`, { path: 'act', tag: '1', digest: `sha256:${SHA256}` }],
    [`act@sha512:${'0'.repeat(128)}`, { path: 'act', digest: `sha512:${'0'.repeat(128)}` }],
    // An image id as `docker run` takes it.
    [SHA256, { path: SHA256 }],
    [`sha256:${SHA256}`, { path: 'sha256', tag: SHA256 }],
    [`act:${'t'.repeat(128)}`, { path: 'act', tag: 't'.repeat(128) }],
    ['a'.repeat(255), { path: 'a'.repeat(255) }],
  ])('accepts %s', (text, parts) => {
    const parsed = parseImageReference(text);
    expect(parsed).toMatchObject(parts);
    expect(isImageReference(text)).toBe(true);
  });

  it.each([
    ['../../etc/passwd', 'not a valid path component'],
    ['../../127.0.0.1:9998/admin/x', 'not a valid path component'],
    ['./act', 'not a valid path component'],
    ['act/../other', 'not a valid path component'],
    ['%2e%2e/%2e%2e/etc/passwd', 'not a valid path component'],
    ['act%2fx', 'not a valid path component'],
    ['', 'empty'],
    ['Busybox', 'not a valid path component'],
    ['team/Act', 'not a valid path component'],
    ['a//b', 'empty path component'],
    ['/act', 'empty path component'],
    ['act/', 'empty path component'],
    ['act:', 'tag'],
    ['act:.hidden', 'tag'],
    [`act:${'t'.repeat(129)}`, 'tag'],
    ['act:a b', 'tag'],
    [':latest', 'no repository'],
    ['act@', 'digest'],
    ['act@sha256:abc', 'sha256 digest is 64'],
    [`act@sha256:${'A'.repeat(64)}`, 'sha256 digest is 64'],
    [`act@md5:${'a'.repeat(32)}`, 'digest must be'],
    [`act@sha256:${SHA256}:x`, 'digest must be'],
    [`act@sha256:${SHA256}@sha256:${SHA256}`, 'digest must be'],
    ['a'.repeat(256), 'longer than 255'],
    [`registry.example.com/${'a/'.repeat(120)}a`, 'longer than 255'],
    ['act name', 'not a valid path component'],
    [' act', 'not a valid path component'],
    ['act ', 'not a valid path component'],
    ['act\n', 'not a valid path component'],
    ['act:1\n', 'tag'],
    ['act\nother', 'not a valid path component'],
    ['act\t', 'not a valid path component'],
    ['act\0', 'not a valid path component'],
    ['-act', 'not a valid path component'],
    ['act-', 'not a valid path component'],
    ['a..b', 'not a valid path component'],
    ['a___b', 'not a valid path component'],
    ['http://registry/act', 'not a valid path component'],
    ['registry.example.com:port/act', 'not a valid path component'],
    ['-bad.example.com/act', 'not a valid path component'],
    ['ünïcode', 'not a valid path component'],
  ])('refuses %j (%s)', (text, problem) => {
    const parsed = parseImageReference(text);
    expect(typeof parsed).toBe('string');
    expect(parsed).toContain(problem);
    expect(isImageReference(text)).toBe(false);
  });
});

describe('isImagePathComponent', () => {
  it('tells whether an action name can be an image name', () => {
    expect(['log-scanner', 'a.b_c__d--e', 'x1'].map(isImagePathComponent)).toEqual([true, true, true]);
    expect(['Log', 'a/b', 'a:b', '', '-a', 'a_'].map(isImagePathComponent)).toEqual(Array(6).fill(false));
  });
});

describe('assertImageReference', () => {
  it('throws bad input naming where the reference came from and the reference itself', () => {
    let thrown: unknown;
    try {
      assertImageReference('../../etc/passwd', '--image');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    const error = thrown as UsageError;
    expect(error.message).toContain('--image "../../etc/passwd" is not a valid image reference');
    expect(error.code).toBe('E_INVALID_IMAGE_REFERENCE');
    expect(error.retryable).toBe(false);
    // The pipeline's retry policy reads the code: bad input, never retried.
    expect(failureReasonFor(error.code)).toBe('bad_input');
    expect(isRetryable(failureReasonFor(error.code))).toBe(false);
  });

  it('shows a newline in the reference as an escape, not a line break', () => {
    expect(() => assertImageReference('act\nFAKE LOG LINE', '--image')).toThrow(
      '--image "act\\nFAKE LOG LINE" is not a valid image reference',
    );
  });

  it('returns a valid reference unchanged', () => {
    expect(assertImageReference('action-worker/busybox:latest', '--image')).toBe(
      'action-worker/busybox:latest',
    );
  });
});

describe('image references in schemas', () => {
  it('refuses an invalid action.json image_uri, naming the field', () => {
    const result = ActionConfig.safeParse({ name: 'act', image_uri: '../../etc/passwd' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['image_uri']);
    expect(result.error?.issues[0]?.message).toContain('not a valid image reference');
  });

  it('refuses an invalid image in an invocation request (a job payload from Redis)', () => {
    const result = InvocationRequest.safeParse({
      action: { image: '../../127.0.0.1:9998/admin/x', config: { name: 'act' } },
      org_id: 'og_1',
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['action', 'image']);
  });

  it('accepts valid references in both', () => {
    expect(ActionConfig.safeParse({ name: 'act', image_uri: 'registry.example/act:1' }).success).toBe(true);
    expect(
      InvocationRequest.safeParse({ action: { image: 'img:1', config: { name: 'act' } }, org_id: 'og_1' })
        .success,
    ).toBe(true);
  });
});
