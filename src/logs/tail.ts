/**
 * Follows a growing file line by line, as `tail -F` does, for training logs another process
 * writes: a byte offset and a streaming UTF-8 decoder (a character split between two reads is
 * decoded whole); the unterminated last line waits for its newline; a file that shrinks, is
 * replaced (another inode) or rewritten from its start (its first bytes differ) starts over.
 * Reads by polling; a file watcher only makes a poll come sooner.
 */
import * as fs from 'node:fs';

/** Longest line kept; a longer one is dropped whole and reported (a log line is ~1 KB per layer). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const CHUNK = 1 << 20;
const HEAD = 64;

interface TailHandlers {
  /** One complete line (without its newline), numbered from 1. */
  onLine(line: string, lineNo: number): void;
  /** The file was truncated, replaced or rewritten: lines start again from 1. */
  onRestart(reason: 'truncated' | 'replaced'): void;
  /** A line longer than MAX_LINE_BYTES was dropped. */
  onOverlong?(lineNo: number): void;
}

export class LogTail {
  private offset = 0;
  private ino = -1;
  private head = Buffer.alloc(0);
  private decoder = new TextDecoder('utf-8');
  private partial = '';
  private dropping = false;
  private lineNo = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private watcher: fs.FSWatcher | null = null;

  constructor(
    readonly file: string,
    private readonly handlers: TailHandlers,
  ) {}

  /** Lines read so far. */
  get lines(): number {
    return this.lineNo;
  }

  /** Whether an unterminated last line is waiting for its end. */
  get pending(): boolean {
    return this.partial.length > 0 || this.dropping;
  }

  /** Reads what is new; returns whether anything was. Throws the file's error (ENOENT…) to the caller. */
  poll(): boolean {
    const st = fs.statSync(this.file);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
    if (this.ino >= 0 && st.ino !== this.ino) this.restart('replaced');
    else if (st.size < this.offset) this.restart('truncated');
    else if (this.head.length > 0 && !this.sameHead()) this.restart('replaced');
    this.ino = st.ino;
    if (st.size === this.offset) return false;
    const fd = fs.openSync(this.file, 'r');
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      let read = 0;
      while (this.offset < st.size) {
        const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, st.size - this.offset), this.offset);
        if (n <= 0) break;
        if (this.head.length < HEAD && this.offset < HEAD)
          this.head = Buffer.concat([this.head, buf.subarray(0, Math.min(n, HEAD - this.offset))]);
        this.offset += n;
        read += n;
        this.take(this.decoder.decode(buf.subarray(0, n), { stream: true }));
      }
      return read > 0;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Polls every `pollMs` and when the file system says the file changed. */
  follow(pollMs: number, onError: (e: NodeJS.ErrnoException) => void): void {
    const tick = (): void => {
      try {
        this.poll();
      } catch (e) {
        onError(e as NodeJS.ErrnoException);
      }
    };
    this.timer = setInterval(tick, pollMs);
    try {
      this.watcher = fs.watch(this.file, { persistent: false }, () => tick());
      this.watcher.on('error', () => undefined);
    } catch {
      // polling alone is enough
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private sameHead(): boolean {
    const fd = fs.openSync(this.file, 'r');
    try {
      const b = Buffer.alloc(this.head.length);
      const n = fs.readSync(fd, b, 0, b.length, 0);
      return n === b.length && b.equals(this.head);
    } finally {
      fs.closeSync(fd);
    }
  }

  private restart(reason: 'truncated' | 'replaced'): void {
    this.offset = 0;
    this.head = Buffer.alloc(0);
    this.decoder = new TextDecoder('utf-8');
    this.partial = '';
    this.dropping = false;
    this.lineNo = 0;
    this.handlers.onRestart(reason);
  }

  private take(text: string): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      const piece = text.slice(from, nl);
      from = nl + 1;
      this.lineNo++;
      if (this.dropping) {
        this.dropping = false;
        this.handlers.onOverlong?.(this.lineNo);
        continue;
      }
      const line = this.partial + piece;
      this.partial = '';
      this.handlers.onLine(line.endsWith('\r') ? line.slice(0, -1) : line, this.lineNo);
    }
    if (this.dropping) return;
    this.partial += text.slice(from);
    if (this.partial.length > MAX_LINE_BYTES) {
      this.partial = '';
      this.dropping = true;
    }
  }
}
