import type { FirmwareType } from '../dhcp/facts-types.ts';

/** PXE boot menu (option 43 sub-options 8, 9, 10) a profile may send to BIOS PXE clients. */
export interface PxeMenu {
  prompt: string;
  /** seconds before the first item is taken; 0 = immediately, 255 = wait for a key */
  timeout: number;
  items: { type: number; description: string }[];
}

/** What policy says to do with one client. */
export type Decision =
  | { action: 'ignore'; rule: string; reason: string }
  | {
      action: 'boot';
      /** the rule that matched, e.g. "rules[2]" or "hosts:/etc/pxepool/hosts:14" or "default" */
      rule: string;
      profile: string;
      firmware: FirmwareType;
      /**
       * boot file name (TFTP path) or URL (iPXE script, HTTP boot). `${mac}` is already filled in;
       * `${server}` is left for the responder to replace with the serving peer's address:port.
       */
      bootFile: string;
      /** boot server to name as next-server; undefined = this server (or the pool's choice) */
      nextServer?: string;
      rootPath?: string;
      menu?: PxeMenu;
      /** pool: peers this client is pinned to, in order of preference */
      pin?: string[];
    };
