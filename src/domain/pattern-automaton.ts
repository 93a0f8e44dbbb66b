/**
 * An Aho–Corasick automaton over byte patterns. Fed a stream one byte at a time, it tells after each byte
 * the longest pattern ending there and how many trailing bytes could still begin one (the state's depth).
 * The work is linear in the stream whatever the patterns: each byte goes at most one level down the trie,
 * and each failure link followed goes at least one level up.
 */
export class PatternAutomaton {
  /** The state after the root reads each byte value (0: the root, no pattern starts with it). */
  readonly rootNext = new Int32Array(256);
  /** The trie as flat lists: a state's children are firstChild, then sibling after sibling (-1: none). */
  private readonly firstChild: Int32Array;
  private readonly sibling: Int32Array;
  /** The byte leading to each state. */
  private readonly label: Uint8Array;
  private readonly fail: Int32Array;
  /** How many bytes the state stands for: the longest tail of the stream that is a prefix of a pattern. */
  readonly depth: Int32Array;
  /** The length of the longest pattern ending at the last byte read (0: none). */
  readonly longestMatch: Int32Array;
  readonly maxPatternLength: number;

  constructor(patterns: readonly Uint8Array[]) {
    const capacity = 1 + patterns.reduce((sum, pattern) => sum + pattern.length, 0);
    const firstChild = new Int32Array(capacity).fill(-1);
    const sibling = new Int32Array(capacity).fill(-1);
    const label = new Uint8Array(capacity);
    const depth = new Int32Array(capacity);
    const longestMatch = new Int32Array(capacity);
    let count = 1;
    for (const pattern of patterns) {
      let state = 0;
      for (const byte of pattern) {
        let next = this.child(state, byte, firstChild, sibling, label);
        if (next === 0) {
          next = count;
          count += 1;
          label[next] = byte;
          depth[next] = (depth[state] ?? 0) + 1;
          sibling[next] = firstChild[state] ?? -1;
          firstChild[state] = next;
          if (state === 0) this.rootNext[byte] = next;
        }
        state = next;
      }
      longestMatch[state] = pattern.length;
    }
    this.firstChild = firstChild.subarray(0, count);
    this.sibling = sibling.subarray(0, count);
    this.label = label.subarray(0, count);
    this.depth = depth.subarray(0, count);
    this.longestMatch = longestMatch.subarray(0, count);
    this.fail = new Int32Array(count);
    this.maxPatternLength = patterns.reduce((longest, pattern) => Math.max(longest, pattern.length), 0);
    // Breadth first, so a state's failure link (shallower) is complete before the state is.
    const queue = new Int32Array(count);
    let tail = 0;
    for (let child = firstChild[0] ?? -1; child !== -1; child = sibling[child] ?? -1) {
      queue[tail] = child;
      tail += 1;
    }
    for (let head = 0; head < tail; head += 1) {
      const state = queue[head] ?? 0;
      for (let child = firstChild[state] ?? -1; child !== -1; child = sibling[child] ?? -1) {
        const target = state === 0 ? 0 : this.next(this.fail[state] ?? 0, label[child] ?? 0);
        this.fail[child] = target;
        if (longestMatch[child] === 0) longestMatch[child] = longestMatch[target] ?? 0;
        queue[tail] = child;
        tail += 1;
      }
    }
  }

  /** The state after `state` reads `byte`. */
  next(state: number, byte: number): number {
    let current = state;
    for (;;) {
      if (current === 0) return this.rootNext[byte] ?? 0;
      const next = this.child(current, byte, this.firstChild, this.sibling, this.label);
      if (next !== 0) return next;
      current = this.fail[current] ?? 0;
    }
  }

  /** The child of `state` by `byte` in the trie, or 0 (the root is nobody's child). */
  private child(
    state: number,
    byte: number,
    firstChild: Int32Array,
    sibling: Int32Array,
    label: Uint8Array,
  ): number {
    for (let child = firstChild[state] ?? -1; child !== -1; child = sibling[child] ?? -1) {
      if (label[child] === byte) return child;
    }
    return 0;
  }
}
