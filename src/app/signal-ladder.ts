/** What signals come from: `process`, or a fake in tests. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** What each rung does; every rung is given the signal that reached it. */
export interface SignalLadderSteps {
  /** Called on every signal, before its rung, with how many have come (1, 2, 3…). */
  onSignal?: (signal: NodeJS.Signals, count: number) => void;
  /** The first signal: stop gracefully. */
  graceful: (signal: NodeJS.Signals) => void;
  /** The second: force the stop (skip what is left of the grace), still cleaning up. */
  force: (signal: NodeJS.Signals) => void;
  /** The third and any after it: leave at once. */
  exit: (signal: NodeJS.Signals) => void;
}

/**
 * The one shutdown ladder of `run` and `daemon`: first signal graceful, second forces, third exits.
 * SIGINT and SIGTERM count together. Returns the function that takes the listeners off again.
 */
export function installSignalLadder(
  source: SignalSource,
  steps: SignalLadderSteps,
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
): () => void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    count += 1;
    steps.onSignal?.(signal, count);
    if (count === 1) steps.graceful(signal);
    else if (count === 2) steps.force(signal);
    else steps.exit(signal);
  };
  for (const signal of signals) source.on(signal, onSignal);
  return () => {
    for (const signal of signals) source.off(signal, onSignal);
  };
}
