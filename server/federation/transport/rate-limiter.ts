/**
 * Per-origin rate limiting of inbound federation requests, as Synapse's FederationRateLimiter does with its
 * `rc_federation` defaults: within a 1 s window the first 10 requests go straight on, later ones are delayed by
 * 500 ms; at most 3 run at once per origin; more than 50 waiting are refused with 429 M_LIMIT_EXCEEDED.
 */
import { limitExceeded } from "../../http/matrix-error";

export interface FederationRateLimitConfig {
  window_size: number;
  sleep_limit: number;
  sleep_delay: number;
  reject_limit: number;
  concurrent: number;
}

export const RC_FEDERATION_DEFAULTS: FederationRateLimitConfig = {
  window_size: 1000,
  sleep_limit: 10,
  sleep_delay: 500,
  reject_limit: 50,
  concurrent: 3,
};

class PerHostLimiter {
  private requestTimes: number[] = [];
  private running = 0;
  private waiting = 0;
  private readonly ready: Array<() => void> = [];

  constructor(private readonly config: FederationRateLimitConfig, private readonly now: () => number) {}

  get idle(): boolean {
    return this.running === 0 && this.waiting === 0 && this.requestTimes.length === 0;
  }

  async run<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    if (this.waiting > this.config.reject_limit) {
      throw limitExceeded(`Too many requests from ${origin} are waiting`, this.config.window_size);
    }
    const now = this.now();
    this.requestTimes = this.requestTimes.filter((t) => now - t < this.config.window_size);
    this.requestTimes.push(now);
    this.waiting++;
    try {
      if (this.requestTimes.length > this.config.sleep_limit) await sleep(this.config.sleep_delay);
      if (this.running >= this.config.concurrent) await new Promise<void>((resolve) => this.ready.push(resolve));
    } finally {
      this.waiting--;
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.ready.shift()?.();
    }
  }

  prune(): void {
    const now = this.now();
    this.requestTimes = this.requestTimes.filter((t) => now - t < this.config.window_size);
  }
}

export class FederationRateLimiter {
  private readonly hosts = new Map<string, PerHostLimiter>();

  constructor(private readonly config: FederationRateLimitConfig = RC_FEDERATION_DEFAULTS, private readonly now: () => number = Date.now) {}

  /** Runs `fn` for a request from `origin` once the origin's limits allow; throws 429 when too many wait. */
  run<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    let limiter = this.hosts.get(origin);
    if (!limiter) {
      if (this.hosts.size > 10_000) this.sweep();
      limiter = new PerHostLimiter(this.config, this.now);
      this.hosts.set(origin, limiter);
    }
    return limiter.run(origin, fn);
  }

  /** Drops state for origins with nothing in flight, so thousands of peers do not grow the map for ever. */
  private sweep(): void {
    for (const [origin, limiter] of this.hosts) {
      limiter.prune();
      if (limiter.idle) this.hosts.delete(origin);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
