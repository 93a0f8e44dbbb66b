/**
 * An Aho–Corasick automaton over byte patterns. Fed a stream one byte at a time, it tells after each byte
 * the longest pattern ending there and how many trailing bytes could still begin one (the state's depth).
 * The work is linear in the stream whatever the patterns: each byte goes at most one level down the trie,
 * and each failure link followed goes at least one level up.
 */
export class PatternAutomaton {
  /** The state after the root reads each byte value (0: the root, no pattern starts with it). */
  private readonly rootNext = new Int32Array(256);
  /** A state's edges are edgeByte/edgeTarget[edgeStart[state] … edgeStart[state + 1]). */
  private readonly edgeStart: Int32Array;
  private readonly edgeByte: Uint8Array;
  private readonly edgeTarget: Int32Array;
  private readonly fail: Int32Array;
  /** How many bytes the state stands for: the longest tail of the stream that is a prefix of a pattern. */
  readonly depth: Int32Array;
  /** The length of the longest pattern ending at the last byte read (0: none). */
  readonly longestMatch: Int32Array;
  readonly maxPatternLength: number;

  constructor(patterns: readonly Uint8Array[]) {
    const children: Map<number, number>[] = [new Map<number, number>()];
    const depth = [0];
    const ends = [0];
    for (const pattern of patterns) {
      let state = 0;
      for (const byte of pattern) {
        const edges = children[state] ?? new Map<number, number>();
        let next = edges.get(byte);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          depth.push((depth[state] ?? 0) + 1);
          ends.push(0);
          edges.set(byte, next);
        }
        state = next;
      }
      ends[state] = pattern.length;
    }
    const count = children.length;
    this.depth = Int32Array.from(depth);
    this.fail = new Int32Array(count);
    this.longestMatch = new Int32Array(count);
    this.maxPatternLength = Math.max(0, ...patterns.map((pattern) => pattern.length));
    // Breadth first, so a state's failure link (shallower) is complete before the state is.
    const queue: number[] = [];
    for (const [byte, child] of children[0] ?? []) {
      this.rootNext[byte] = child;
      this.longestMatch[child] = ends[child] ?? 0;
      queue.push(child);
    }
    for (let head = 0; head < queue.length; head += 1) {
      const state = queue[head] ?? 0;
      for (const [byte, child] of children[state] ?? []) {
        let fallback = this.fail[state] ?? 0;
        while (fallback !== 0 && children[fallback]?.has(byte) !== true) fallback = this.fail[fallback] ?? 0;
        const target = children[fallback]?.get(byte) ?? 0;
        this.fail[child] = target;
        this.longestMatch[child] = ends[child] || (this.longestMatch[target] ?? 0);
        queue.push(child);
      }
    }
    this.edgeStart = new Int32Array(count + 1);
    let edgeCount = 0;
    for (let state = 0; state < count; state += 1) {
      this.edgeStart[state] = edgeCount;
      // The root's edges are in rootNext.
      if (state !== 0) edgeCount += children[state]?.size ?? 0;
    }
    this.edgeStart[count] = edgeCount;
    this.edgeByte = new Uint8Array(edgeCount);
    this.edgeTarget = new Int32Array(edgeCount);
    for (let state = 1; state < count; state += 1) {
      let edge = this.edgeStart[state] ?? 0;
      for (const [byte, child] of children[state] ?? []) {
        this.edgeByte[edge] = byte;
        this.edgeTarget[edge] = child;
        edge += 1;
      }
    }
  }

  /** The state after `state` reads `byte`. */
  next(state: number, byte: number): number {
    let current = state;
    for (;;) {
      if (current === 0) return this.rootNext[byte] ?? 0;
      const end = this.edgeStart[current + 1] ?? 0;
      for (let edge = this.edgeStart[current] ?? 0; edge < end; edge += 1) {
        if (this.edgeByte[edge] === byte) return this.edgeTarget[edge] ?? 0;
      }
      current = this.fail[current] ?? 0;
    }
  }
}
