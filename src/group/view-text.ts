/**
 * A group's plain lines (docs/groups.md#output): one line per meaningful event, in the single
 * tunnel's wording (src/listen/reporter.ts PlainReporter, one per service) prefixed `<service>: `,
 * plus the group's own lines. stdout (`out`) carries data only: `<name> <url>` once a service is
 * verified and the group has settled.
 */
import type { ListenEvent, ListenSink, Resolution, ServiceOutcome } from "../listen/events.ts";
import { readyLine } from "../listen/lines.ts";
import type { Readiness } from "../listen/readiness.ts";
import { PlainReporter } from "../listen/reporter.ts";
import type { TunnelProgress } from "../tunnel/progress.ts";
import type { TunnelSummary } from "../tunnel/service.ts";
import type { ProbeSummary, ProbeTarget } from "../../workers/messages.ts";
import {
  degradedLine,
  disablingLine,
  groupLine,
  prefixLines,
  readyAgainLine,
  readyCountLine,
  reloadedLine,
  reloadRefusedLine,
  serviceUrlLine,
} from "./view-lines.ts";

type Write = (line: string) => void;

/**
 * One service's lines: the single tunnel's, except that being ready goes to stderr (the group
 * prints the URLs and the stop hint once it has settled) and readiness and disabling are the
 * group's to say. `quiet` (under the live view, which shows the steps itself): warnings only.
 */
class ServiceLines extends PlainReporter {
  constructor(
    err: Write,
    private readonly quiet: boolean,
  ) {
    super(err, err, "");
  }

  override endpointId(id: string): void {
    if (!this.quiet) super.endpointId(id);
  }

  override tunnel(kind: Resolution, t: TunnelSummary): void {
    if (!this.quiet) super.tunnel(kind, t);
  }

  override settingUp(): void {
    if (!this.quiet) super.settingUp();
  }

  override progress(progress: TunnelProgress, elapsedMs: number): void {
    if (!this.quiet) super.progress(progress, elapsedMs);
  }

  override verifying(): void {
    if (!this.quiet) super.verifying();
  }

  override probeAttempt(target: ProbeTarget, url: string, elapsedMs: number, status: number | null, error: string | null): void {
    if (!this.quiet) super.probeAttempt(target, url, elapsedMs, status, error);
  }

  override probed(target: ProbeTarget, r: ProbeSummary): void {
    // A down origin is a warning, shown everywhere.
    if (!this.quiet || (target === "origin" && !r.up)) super.probed(target, r);
    else if (target === "origin") this.originDown = false;
  }

  override ready(_t: TunnelSummary, urls: readonly string[], _endpointId: string, elapsedMs: number): void {
    if (!this.quiet) for (const url of urls) this.err(readyLine(elapsedMs, url));
  }

  override readinessChanged(_id: string, _r: Readiness): void {}

  /** Only one service's (a reload removed it); the group says when all of them are. */
  override disabling(): void {
    if (!this.quiet) this.err("Disabling tunnel...");
  }
}

export class GroupLinesView implements ListenSink {
  readonly #services = new Map<string, ServiceLines>();
  readonly #untagged: ServiceLines;
  #members: readonly string[] | undefined;
  #settled = false;
  /** What each service's `<name> <url>` lines said last, so a URL is printed once. */
  readonly #announced = new Map<string, string>();
  #disabling = false;

  constructor(
    private readonly err: Write,
    private readonly out: Write,
    /** Said once, when the group first settles (how to stop it); null: nothing. */
    private readonly stopHint: string | null,
    /** Under the live view: the group's and the services' warnings and outcomes only. */
    private readonly quiet = false,
  ) {
    this.#untagged = new ServiceLines(err, quiet);
  }

  #for(service: string | undefined): ServiceLines {
    if (service === undefined) return this.#untagged;
    let lines = this.#services.get(service);
    if (!lines) {
      lines = new ServiceLines((text) => {
        for (const line of prefixLines(service, text)) this.err(line);
      }, this.quiet);
      this.#services.set(service, lines);
    }
    return lines;
  }

  #announce(name: string, urls: readonly string[]): void {
    const said = urls.join(" ");
    if (urls.length === 0 || this.#announced.get(name) === said) return;
    this.#announced.set(name, said);
    for (const url of urls) this.out(serviceUrlLine(name, url));
  }

  #settle(outcomes: readonly ServiceOutcome[]): void {
    const first = !this.#settled;
    this.#settled = true;
    for (const o of outcomes) if (o.ready) this.#announce(o.name, o.urls);
    for (const o of outcomes) if (!o.ready) this.err(degradedLine(o.name, o.reason));
    this.err(readyCountLine(outcomes));
    if (first && this.stopHint) this.err(this.stopHint);
  }

  on(e: ListenEvent): void {
    switch (e.type) {
      case "group":
        if (!this.quiet && this.#members === undefined) this.err(groupLine(e.name, e.members));
        this.#members = e.members.map((m) => m.name);
        return;
      case "settled":
        return this.#settle(e.services);
      case "reloaded":
        return this.err(reloadedLine(e.summary));
      case "reload_rejected":
        return this.err(reloadRefusedLine(e.message));
      case "disabling":
        // One service on its way out (a reload removed it): the single tunnel's line, prefixed.
        if (e.service !== undefined) return this.#for(e.service).on(e);
        if (this.#disabling) return;
        this.#disabling = true;
        this.err("");
        return this.err(disablingLine(this.#members?.length ?? this.#services.size));
      case "readiness_changed":
        if (e.service === undefined || (this.quiet && !this.#settled)) return;
        return this.err(e.readiness.ready ? readyAgainLine(e.service) : degradedLine(e.service, e.readiness.reason));
      case "ready":
        this.#for(e.service).on(e);
        // Verified after the group settled (added by a reload, or its origin came up): data too.
        if (this.#settled && e.service !== undefined) this.#announce(e.service, e.urls);
        return;
      default:
        return this.#for(e.service).on(e);
    }
  }

  close(): void {}
}

/** A group's lines for its log (daemon, service): everything, stdout's lines included, to `write`. */
export class GroupPlainView extends GroupLinesView {
  constructor(write: Write, stopHint: string | null = null) {
    super(write, write, stopHint);
  }
}
