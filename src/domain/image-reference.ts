import { z } from 'zod';
import { UsageError } from './errors.js';

/**
 * A Docker image reference, split into its parts: `[domain[:port]/]path[:tag][@algorithm:hex]`.
 * `domain` is null when the reference names none (Docker Hub is implied).
 */
export interface ImageReference {
  domain: string | null;
  path: string;
  tag: string | null;
  digest: string | null;
}

/** Docker's limit on the name (domain and path, without tag or digest). */
export const MAX_IMAGE_NAME_LENGTH = 255;

// The grammar of Docker's reference format (distribution/reference), written out one piece at a time. Every
// pattern is anchored and built from explicit character classes: no whitespace, control character, "%" or
// ".." can ever match.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^\w[\w.-]{0,127}$/;
/** The digest algorithms Docker accepts, with the length of their lowercase hex. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Parses an image reference by Docker's grammar; returns the problem as text when it is not one. Pure: no
 * normalisation (no implied `docker.io/library/` or `:latest`), no I/O.
 */
export function parseImageReference(text: string): ImageReference | string {
  if (text === '') return 'it is empty';
  let rest = text;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem !== undefined) return problem;
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  // A colon after the last slash starts the tag; one before it belongs to the domain's port.
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      return 'the tag must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"';
    }
  }
  if (rest === '') return 'it names no repository';
  if (rest.length > MAX_IMAGE_NAME_LENGTH) {
    return `the name is longer than ${MAX_IMAGE_NAME_LENGTH} characters`;
  }
  const components = rest.split('/');
  let domain: string | null = null;
  // The first of several components is a domain when it can only be one (a port, uppercase, an IPv6
  // address) or looks like one (a dot, "localhost"); otherwise it is a path component, as Docker reads it.
  const first = components[0] ?? '';
  if (
    components.length > 1 &&
    DOMAIN.test(first) &&
    (!PATH_COMPONENT.test(first) || first.includes('.') || first === 'localhost')
  ) {
    domain = first;
    components.shift();
  }
  for (const component of components) {
    if (!PATH_COMPONENT.test(component)) {
      return component === ''
        ? 'it has an empty path component'
        : `"${component}" is not a valid path component (lowercase letters and digits, separated by ".", "_", "__" or "-")`;
    }
  }
  return { domain, path: components.join('/'), tag, digest };
}

function digestProblem(digest: string): string | undefined {
  const [algorithm = '', hex, ...extra] = digest.split(':');
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined || hex === undefined || extra.length > 0) {
    return 'the digest must be sha256:, sha384: or sha512: followed by lowercase hex';
  }
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    return `a ${algorithm} digest is ${length} lowercase hex digits`;
  }
  return undefined;
}

/** Whether `text` can be one path component of a repository name (an action name used as an image name). */
export function isImagePathComponent(text: string): boolean {
  return PATH_COMPONENT.test(text);
}

/** Whether `text` is a valid image reference. */
export function isImageReference(text: string): boolean {
  return typeof parseImageReference(text) !== 'string';
}

/** The reference, quoted for a message: JSON escaping shows a newline or a control character as such. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text);
}

/**
 * Throws a UsageError naming the reference and where it came from (`--image`, `action.json image_uri`)
 * unless it is a valid image reference. Bad input: never retried.
 */
export function assertImageReference(text: string, where: string): string {
  const parsed = parseImageReference(text);
  if (typeof parsed === 'string') {
    throw new UsageError(
      `${where} ${quoted(text)} is not a valid image reference: ${parsed}`,
      'E_INVALID_IMAGE_REFERENCE',
    );
  }
  return text;
}

/** A zod string that must be a valid image reference (for action.json and job payloads). */
export const ImageReferenceText = z.string().superRefine((text, ctx) => {
  const parsed = parseImageReference(text);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: `${quoted(text)} is not a valid image reference: ${parsed}` });
  }
});
