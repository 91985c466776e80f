/**
 * Incremental decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
 *
 * The absolute mode strips `transfer-encoding` from the origin's response (hop-by-hop,
 * docs/wire-facts.md#stream-protocol) and frames the body by FIN instead, so a chunked origin body
 * must be de-chunked on the way through. Extensions are ignored, trailers discarded. Chunk-size lines are
 * bounded so a hostile origin cannot make the decoder buffer without limit.
 */

const MAX_LINE = 4096;

type State = "size" | "data" | "data-crlf" | "trailer" | "done";

export type ChunkedOutput = { readonly data: Uint8Array[]; readonly done: boolean; readonly rest: Uint8Array };

export class ChunkedDecoder {
  private state: State = "size";
  private line = "";
  private remaining = 0;

  get done(): boolean {
    return this.state === "done";
  }

  /**
   * Feed bytes; returns the body bytes decoded so far (views into `input`), whether the final
   * chunk and trailers were seen, and any bytes after the end of the body. Throws on malformed input.
   */
  push(input: Uint8Array): ChunkedOutput {
    const data: Uint8Array[] = [];
    let i = 0;
    while (i < input.length && this.state !== "done") {
      switch (this.state) {
        case "size":
        case "trailer":
        case "data-crlf": {
          const byte = input[i++]!;
          if (this.state === "data-crlf" && byte !== 0x0d && byte !== 0x0a) throw new Error("chunked: missing CRLF after chunk data");
          if (byte !== 0x0a) {
            this.line += String.fromCharCode(byte);
            if (this.line.length > MAX_LINE) throw new Error("chunked: line too long");
            continue;
          }
          const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
          this.line = "";
          this.onLine(line);
          break;
        }
        case "data": {
          const take = Math.min(this.remaining, input.length - i);
          data.push(input.subarray(i, i + take));
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = "data-crlf";
          break;
        }
      }
    }
    return { data, done: this.state === "done", rest: input.subarray(i) };
  }

  private onLine(line: string): void {
    if (this.state === "data-crlf") {
      if (line !== "") throw new Error("chunked: missing CRLF after chunk data");
      this.state = "size";
    } else if (this.state === "size") {
      const sizeText = line.split(";", 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new Error("chunked: invalid chunk size");
      const size = parseInt(sizeText, 16);
      if (size === 0) this.state = "trailer";
      else {
        this.remaining = size;
        this.state = "data";
      }
    } else if (this.state === "trailer") {
      // Trailer fields are dropped (`trailer` is hop-by-hop too); an empty line ends the body.
      if (line === "") this.state = "done";
    }
  }
}

/** Encode one chunk (used when a request body without `content-length` is sent to an origin). */
export function encodeChunk(data: Uint8Array): Uint8Array {
  const prefix = `${data.length.toString(16)}\r\n`;
  const out = new Uint8Array(prefix.length + data.length + 2);
  for (let i = 0; i < prefix.length; i++) out[i] = prefix.charCodeAt(i);
  out.set(data, prefix.length);
  out[out.length - 2] = 0x0d;
  out[out.length - 1] = 0x0a;
  return out;
}

export const LAST_CHUNK = Uint8Array.from([0x30, 0x0d, 0x0a, 0x0d, 0x0a]);
