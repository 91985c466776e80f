/**
 * A group's `-o json` view (docs/groups.md#output): on stdout, the single tunnel's JSON events
 * (src/listen/reporter.ts JsonReporter, one per service) with `"service"` added, and the group's
 * own events; on stderr, the plain lines.
 */
import type { ListenEvent, ListenSink } from "../listen/events.ts";
import { JsonReporter } from "../listen/reporter.ts";
import { groupEventJson, withService } from "./view-lines.ts";
import { GroupLinesView } from "./view-text.ts";

type Write = (line: string) => void;

const discard: Write = () => undefined;

export class GroupJsonView implements ListenSink {
  readonly #text: GroupLinesView;
  readonly #services = new Map<string, JsonReporter>();
  readonly #untagged: JsonReporter;
  #endpointId: string | undefined;

  constructor(
    err: Write,
    private readonly json: Write,
    stopHint: string | null,
  ) {
    this.#text = new GroupLinesView(err, discard, stopHint);
    this.#untagged = new JsonReporter(discard, json);
  }

  #for(service: string | undefined): JsonReporter {
    if (service === undefined) return this.#untagged;
    let reporter = this.#services.get(service);
    if (!reporter) {
      // Text comes from the group's lines; this one writes only its JSON, tagged.
      reporter = new JsonReporter(discard, (line) => this.json(withService(line, service)));
      this.#services.set(service, reporter);
    }
    return reporter;
  }

  on(e: ListenEvent): void {
    this.#text.on(e);
    if (e.type === "endpoint_id") this.#endpointId = e.endpointId;
    const own = groupEventJson(e, this.#endpointId);
    if (own) this.json(JSON.stringify(own));
    else this.#for(e.service).on(e);
  }

  close(): void {}
}
