/**
 * Flow control for a webview's event posts: at most WINDOW posts in flight, a post being in flight
 * from when the host sends it until the webview acknowledges its `seq` (it does so on arrival).
 * While the window is full the events wait in the host's queue, where they are thinned
 * (event-queue.ts), instead of in the editor's connection: a renderer slower than the run (a busy
 * machine, a remote window) would otherwise have megabytes queued in front of everything else the
 * window and the extension host say to each other (an edit, a completion, "is the extension host
 * responsive?"). A post unacknowledged for ACK_TIMEOUT_MS counts as lost (a webview gone or
 * reloaded without its `ready`), so the panel never stalls. Pure: no VS Code.
 */

/** Posts sent and not yet acknowledged, at most. */
export const WINDOW = 2;
/** After this long without its acknowledgement a post no longer counts as in flight. */
export const ACK_TIMEOUT_MS = 5000;

export class PostWindow {
  private next = 1;
  /** Each post in flight: its seq and when it was sent (ms), oldest first. */
  private readonly out: { seq: number; at: number }[] = [];

  /** Whether a post may be sent at `now` (ms). */
  open(now: number): boolean {
    while (this.out.length > 0 && now - this.out[0]!.at >= ACK_TIMEOUT_MS) this.out.shift();
    return this.out.length < WINDOW;
  }

  /** Records a post sent at `now`; returns the seq its messages carry. */
  sent(now: number): number {
    const seq = this.next++;
    this.out.push({ seq, at: now });
    return seq;
  }

  /** The webview has `seq` (and so every earlier post: the connection keeps their order). */
  acked(seq: number): void {
    while (this.out.length > 0 && this.out[0]!.seq <= seq) this.out.shift();
  }

  /** Nothing in flight (a new webview said `ready`: what the old one did not get is replayed). */
  reset(): void {
    this.out.length = 0;
  }

  /** Posts in flight at the last look. */
  get inFlight(): number {
    return this.out.length;
  }

  /** Ms from `now` until the oldest post in flight counts as lost, or null if none is in flight. */
  expiresIn(now: number): number | null {
    return this.out.length > 0 ? Math.max(0, this.out[0]!.at + ACK_TIMEOUT_MS - now) : null;
  }
}
