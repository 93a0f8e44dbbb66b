/** The API key one attempt of an invocation hands its action (`ROBOTO_API_KEY`). */
export interface InvocationCredential {
  /** The bearer token: a secret, masked in everything the action prints, never stored or logged. */
  token: string;
  /** Where the token is good, when that is not the worker's `roboto.serviceEndpoint` (`run`'s own API). */
  serviceEndpoint?: string;
  /** Ends the token at once (again is a no-op): once the action's container is gone, nothing needs it. */
  revoke(): Promise<void>;
}

/**
 * Issues each attempt its own API token, scoped to the invocation's org and to the invocation, so an action
 * can call the API (spec §3.9) with a key that dies with it, instead of a static key shared by every
 * container. The pipeline asks for one when an attempt starts and revokes it when the container is gone.
 */
export interface InvocationCredentials {
  /**
   * A token for this attempt, or undefined when the API does not know the invocation's org (the action
   * then gets no usable key). `expires`: a bound on its life in case every revoke is missed.
   */
  issue(invocation: {
    invocationId: string;
    orgId: string;
    attempt: number;
    expires: Date;
  }): Promise<InvocationCredential | undefined>;
}
