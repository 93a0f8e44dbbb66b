import type { ComputeRequirements, HostCapacity } from '../../domain/compute-requirements.js';

export interface Reservation {
  readonly vcpu: number;
  readonly memoryMiB: number;
}

/**
 * What this worker has left: slots (one per fetched job), and CPU units and memory (reserved per running
 * action). A job is fetched only with a slot free, and run only when its requirements fit too; whoever
 * waits for room is woken whenever some is given back.
 */
export class CapacityLedger {
  private slotsUsed = 0;
  private vcpuUsed = 0;
  private memoryUsed = 0;
  private waiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];

  constructor(
    private readonly slots: number,
    private readonly host: HostCapacity,
  ) {}

  hasFreeSlot(): boolean {
    return this.slotsUsed < this.slots;
  }

  claimSlot(): void {
    this.slotsUsed += 1;
  }

  releaseSlot(): void {
    this.slotsUsed -= 1;
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Room for `requirements` beside what runs now, or undefined. */
  tryReserve(requirements: ComputeRequirements): Reservation | undefined {
    if (this.vcpuUsed + requirements.vCPU > this.host.vcpu) return undefined;
    if (this.memoryUsed + requirements.memory > this.host.memoryMiB) return undefined;
    this.vcpuUsed += requirements.vCPU;
    this.memoryUsed += requirements.memory;
    return { vcpu: requirements.vCPU, memoryMiB: requirements.memory };
  }

  release(reservation: Reservation): void {
    this.vcpuUsed -= reservation.vcpu;
    this.memoryUsed -= reservation.memoryMiB;
    this.wake();
  }

  /** Resolves the next time vCPU and memory are given back (not a slot alone). */
  roomFreed(): Promise<void> {
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Resolves the next time a slot or room is given back (or `wake` is called). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter, for room or for a slot (room given back, or the worker stopping). */
  wake(): void {
    for (const waiter of [...this.waiters.splice(0), ...this.roomWaiters.splice(0)]) waiter();
  }

  usage(): { slots: number; vcpu: number; memoryMiB: number } {
    return { slots: this.slotsUsed, vcpu: this.vcpuUsed, memoryMiB: this.memoryUsed };
  }
}
