/**
 * Types for Tencent's own `tls-sig-api-v2` 1.0.2 (CommonJS, ships no types). Only what Parley uses.
 * Imported by file path (see tencent-user-sig.ts), so both specifiers are declared.
 */
declare module 'tls-sig-api-v2/TLSSigAPIv2.js' {
  export class Api {
    constructor(sdkappid: number, key: string);
    /** The UserSig v2 for `userid`, valid `expire` seconds from now (reads `Date.now()`). */
    genUserSig(userid: string, expire: number): string;
  }
}

declare module 'tls-sig-api-v2' {
  export { Api } from 'tls-sig-api-v2/TLSSigAPIv2.js';
}
