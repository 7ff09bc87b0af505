// Is this EFI image signed? Secure Boot firmware runs a PE image only if its Authenticode
// signature (the certificate table, data directory 4) checks out against db. Whether it does is
// the firmware's business; whether there is a signature at all, and whether the image is an
// iPXE build (which no one signs for the Microsoft CA), is what `pxepool check` can tell from
// the bytes before a machine says "Access Denied".

export type PeVerdict =
  | { kind: 'not-pe' }
  | { kind: 'pe'; signed: boolean; ipxe: boolean };

const u16 = (b: Uint8Array, o: number): number => (o + 2 <= b.length ? b[o]! | (b[o + 1]! << 8) : -1);
const u32 = (b: Uint8Array, o: number): number => (o + 4 <= b.length ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 2 ** 24 : -1);

const IPXE = new TextEncoder().encode('iPXE');

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

export function peSignature(image: Uint8Array): PeVerdict {
  if (u16(image, 0) !== 0x5a4d) return { kind: 'not-pe' }; // "MZ"
  const pe = u32(image, 0x3c);
  if (pe < 0 || u32(image, pe) !== 0x00004550) return { kind: 'not-pe' }; // "PE\0\0"
  const opt = pe + 24;
  const magic = u16(image, opt);
  // Data directories follow the optional header's fixed part: 96 bytes for PE32, 112 for PE32+.
  const dirs = magic === 0x10b ? opt + 96 : magic === 0x20b ? opt + 112 : -1;
  if (dirs < 0) return { kind: 'not-pe' };
  const count = u32(image, dirs - 4);
  const size = count > 4 ? u32(image, dirs + 4 * 8 + 4) : 0;
  return { kind: 'pe', signed: size > 0, ipxe: contains(image, IPXE) };
}
