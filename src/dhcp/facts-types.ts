// What a request tells us about the client. Produced by clientFacts() in ./facts.ts from a
// parsed packet; consumed by policy (src/policy) and the responder (src/proxy).

/** Firmware families a profile can name a boot file for. */
export type FirmwareType =
  | 'bios'          // arch 0: x86 BIOS PXE
  | 'efi-ia32'      // arch 6
  | 'efi-x64'       // arch 7 (EFI BC) and 9 (EFI x86-64)
  | 'efi-arm64'     // arch 11
  | 'efi-x64-http'  // arch 16 (x64 UEFI HTTP boot), and other HTTP-boot arches map here too
  | 'efi-arm64-http'// arch 19
  | 'unknown';

export interface ClientFacts {
  /** lowercase aa:bb:cc:dd:ee:ff (from chaddr, htype 1 / hlen 6) */
  mac: string;
  xid: number;
  /** option 53, undefined for plain BOOTP */
  messageType: number | undefined;
  /** option 93 (first entry), else the Arch: field of option 60, else undefined */
  arch: number | undefined;
  firmware: FirmwareType;
  /** option 94 */
  undi: { type: number; major: number; minor: number } | undefined;
  /** option 97 GUID as lowercase 8-4-4-4-12, bytes in wire order */
  uuid: string | undefined;
  /** option 97 GUID with the first three fields byte-swapped (SMBIOS little-endian reading) */
  uuidSwapped: string | undefined;
  /** option 60 as text */
  vendorClass: string | undefined;
  /** option 12, only when the client sent one: shown to operators, never decided on */
  hostname?: string;
  /**
   * option 50, only when sent: the address a client asks the site DHCP server for in its
   * REQUEST, and so the one its TFTP reads come from (the operator's view ties them to the MAC)
   */
  requestedAddress?: string;
  /** option 77 entries (RFC 3004 list, or the whole option as one string when not a valid list) */
  userClass: string[];
  /** option 60 begins with PXEClient */
  pxeClient: boolean;
  /** option 60 begins with HTTPClient (UEFI HTTP boot) */
  httpClient: boolean;
  /** option 77 says iPXE, or option 175 is present */
  isIpxe: boolean;
  /**
   * A relay agent sent it: giaddr is set and, once the responder knows the UDP source, it came
   * from the agents' port 67 (a giaddr that a client wrote itself does not count).
   */
  relayed: boolean;
  giaddr: string;
  /** the UDP source of a 4011 request: the client's own address (4011 is never relayed) */
  source?: string;
  ciaddr: string;
  secs: number;
  /** BOOTP broadcast flag */
  broadcast: boolean;
  /** option 43 sub-option 71: boot server type and layer the client asks for (4011 requests) */
  bootItem: { type: number; layer: number } | undefined;
  /** option 57 */
  maxMessageSize: number | undefined;
}
