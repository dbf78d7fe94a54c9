// The training clock of --save_at_minutes and of the time each checkpoint records.
/**
 * Training time: steps and the batches they wait for, not evaluation or checkpoint writes
 * (paused around them); and which of --save_at_minutes it has passed.
 */
export class TrainClock {
  private since: number | undefined;
  private next: number;
  constructor(private secs: number, private readonly minutes: readonly number[]) {
    // Minutes a resumed run already passed were kept by the run that passed them.
    this.next = minutes.filter((m) => m * 60 <= secs).length;
  }
  get seconds(): number {
    return this.secs + (this.since === undefined ? 0 : (performance.now() - this.since) / 1000);
  }
  resume(): void {
    this.pause();
    this.since = performance.now();
  }
  pause(): void {
    this.secs = this.seconds;
    this.since = undefined;
  }
  /** The minutes passed since the last call (the clock is paused when there are any). */
  due(): number[] {
    const s = this.seconds;
    const out: number[] = [];
    while (this.next < this.minutes.length && this.minutes[this.next] * 60 <= s) out.push(this.minutes[this.next++]);
    if (out.length) this.pause();
    return out;
  }
  pending(): number[] {
    return this.minutes.slice(this.next);
  }
}
