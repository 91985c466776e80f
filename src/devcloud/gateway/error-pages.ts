/**
 * The HTTP answers the dev-cloud edge and gateway produce themselves (docs/wire-facts.md#gateway,
 * docs/architecture.md#local-datum): HTML pages titled like `502 Bad Gateway` for gateway failures, and
 * the edge's plain `404` for an unknown host and `503 Tunnel not online` for an offline Connector
 * (docs/wire-facts.md#lease-loss).
 */
import { asciiBytes } from "../../dataplane/bytes.ts";
import { reasonPhrase } from "../../dataplane/response.ts";

const SENTENCES: Record<number, string> = {
  400: "The gateway could not understand the request.",
  502: "The gateway could not get a valid response from the upstream service.",
  504: "The gateway did not get a response from the upstream service in time.",
};

function response(status: number, contentType: string, body: string): Uint8Array {
  return asciiBytes(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ncontent-type: ${contentType}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function errorPage(status: 400 | 502 | 504): Uint8Array {
  const title = `${status} ${reasonPhrase(status)}`;
  const body = `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><h1>${title}</h1><p>${SENTENCES[status]}</p></body></html>\n`;
  return response(status, "text/html; charset=utf-8", body);
}

export const NOT_FOUND = response(404, "text/plain; charset=utf-8", "Not Found");
export const TUNNEL_NOT_ONLINE = response(503, "text/plain; charset=utf-8", "Tunnel not online");
