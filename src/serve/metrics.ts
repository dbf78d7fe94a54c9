// The server's counters in the Prometheus text format (version 0.0.4): requests by route and
// status, errors by code, /predict latency and forward-pass batch sizes as histograms, and the
// queue depth at scrape time. Written here because the format is a few lines of text.

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: number[]) {
    this.counts = bounds.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    this.bounds.forEach((b, i) => { if (v <= b) this.counts[i]++; });
  }
  render(name: string, help: string): string[] {
    return [
      `# HELP ${name} ${help}`, `# TYPE ${name} histogram`,
      ...this.bounds.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`,
    ];
  }
}

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class ServeMetrics {
  private requests = new Map<string, number>();
  private errors = new Map<string, number>();
  readonly latency = new Histogram(LATENCY_BUCKETS);
  readonly batches = new Histogram(BATCH_BUCKETS);
  readonly inference = new Histogram(LATENCY_BUCKETS);

  constructor(private readonly queueDepth: () => number) {}

  request(route: string, status: number): void {
    const k = `route="${label(route)}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  render(): string {
    const lines = [
      '# HELP vnet_requests_total HTTP requests answered, by route and status.', '# TYPE vnet_requests_total counter',
      ...[...this.requests].map(([k, v]) => `vnet_requests_total{${k}} ${v}`),
      '# HELP vnet_errors_total Requests that failed, by error code.', '# TYPE vnet_errors_total counter',
      ...[...this.errors].map(([k, v]) => `vnet_errors_total{code="${label(k)}"} ${v}`),
      ...this.latency.render('vnet_request_duration_seconds', 'Time from a /predict request to its answer.'),
      ...this.inference.render('vnet_inference_duration_seconds', 'Time of one forward pass.'),
      ...this.batches.render('vnet_batch_size', 'Cases per forward pass.'),
      '# HELP vnet_queue_depth Segmentation requests accepted and not yet answered.', '# TYPE vnet_queue_depth gauge',
      `vnet_queue_depth ${this.queueDepth()}`,
    ];
    return lines.join('\n') + '\n';
  }
}
