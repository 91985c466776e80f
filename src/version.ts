/**
 * Version and commit of this build. The release build (`scripts/build.ts`) replaces these through
 * `define`; from source they read as below.
 */
declare const DATUM_CONNECT_VERSION: string | undefined;
declare const DATUM_CONNECT_COMMIT: string | undefined;

export const VERSION: string = typeof DATUM_CONNECT_VERSION === "string" ? DATUM_CONNECT_VERSION : "0.1.0";
export const COMMIT: string = typeof DATUM_CONNECT_COMMIT === "string" ? DATUM_CONNECT_COMMIT : "dev";
