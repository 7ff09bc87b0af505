// Real-firmware PXE clients in QEMU (software emulation), attached to a lab tap.
//
//   bios: -machine pc, SeaBIOS runs the iPXE option ROM of QEMU's virtio-net-pci (ipxe-qemu)
//   uefi: -machine q35, OVMF with its own EDK2 PXE stack (NIC romfile= empty)
//   aavmf: qemu-system-aarch64 -machine virt, AAVMF (EDK2 for ARM64), its own PXE stack
//
// QEMU runs inside the lab's switch namespace (where the tap lives). The serial console goes to
// a file which is tailed with timestamps, so boot phases can be timed.

import { copyFileSync, existsSync, rmSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Lab, Proc } from '../lib/netns.ts';
import { FIRMWARE_FILES, MARKER_RE } from './artifacts.ts';
import { AAVMF } from './arm64-artifacts.ts';

/** What the firmware prints when it stops trying to boot from the network. */
export const FIRMWARE_GAVE_UP = /Nothing to boot|PXE-E\d\d|No bootable device/;

export type Firmware = 'bios' | 'uefi' | 'aavmf';

export interface QemuClientOptions {
  firmware: Firmware;
  /** Tap in lab.switchNs (lab.addTap()). */
  tap: string;
  /** Directory for the serial log and the UEFI vars copy. */
  workDir: string;
  name?: string;
  mac?: string;
  uuid?: string;
  memoryMb?: number;
  /**
   * Boot from this image instead of the network: attached as a CD-ROM (an ISO) or as a disk
   * (a USB/disk image, attached read-only in effect: writes go to a throw-away snapshot). The
   * NIC stays, without a boot index, so the image's own network boot loader uses it.
   */
  bootImage?: { path: string; as: 'cdrom' | 'disk' };
  /**
   * UEFI only: Secure Boot enforced — OVMF's secboot build (SMM, secure flash) with the
   * Microsoft keys enrolled (OVMF_VARS_4M.ms.fd), as machines ship; on AAVMF, its
   * AAVMF_VARS.ms.fd (the same keys).
   */
  secureBoot?: boolean;
  extraArgs?: string[];
}

export interface SerialLine {
  /** Milliseconds since QEMU was started. */
  t: number;
  line: string;
}

export interface BootResult {
  mac: string;
  server: string;
  line: string;
  /** Seconds from QEMU start to the marker on the serial console. */
  seconds: number;
}

let clientCounter = 0;

export class QemuClient {
  readonly name: string;
  readonly firmware: Firmware;
  readonly mac: string;
  readonly uuid: string;
  readonly serialLog: string;
  readonly proc: Proc;
  readonly startedAt: number;
  readonly lines: SerialLine[] = [];
  #offset = 0;
  #partial = '';
  #timer: NodeJS.Timeout;
  readonly #waiters = new Set<() => void>();

  constructor(name: string, firmware: Firmware, mac: string, uuid: string, serialLog: string, proc: Proc) {
    this.name = name;
    this.firmware = firmware;
    this.mac = mac;
    this.uuid = uuid;
    this.serialLog = serialLog;
    this.proc = proc;
    this.startedAt = Date.now();
    this.#timer = setInterval(() => this.#poll(), 50);
    this.#timer.unref();
  }

  #poll(): void {
    if (!existsSync(this.serialLog)) return;
    const fd = openSync(this.serialLog, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > this.#offset) {
        const buf = Buffer.alloc(size - this.#offset);
        readSync(fd, buf, 0, buf.length, this.#offset);
        this.#offset = size;
        // Firmware consoles use CR, LF, and ANSI escapes; split on any line end, strip escapes.
        const text = this.#partial + buf.toString('latin1');
        const parts = text.split(/\r\n|\r|\n/);
        this.#partial = parts.pop() ?? '';
        const t = Date.now() - this.startedAt;
        for (const p of parts) {
          const clean = p.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[a-zA-Z])/g, '').replace(/[\x00-\x08\x0b-\x1f]/g, '').trimEnd();
          if (clean !== '') this.lines.push({ t, line: clean });
        }
      }
    } finally {
      closeSync(fd);
    }
    for (const w of [...this.#waiters]) w();
  }

  get serial(): string {
    return this.lines.map((l) => l.line).join('\n');
  }

  /** Wait for a serial line matching `re` (bounded). */
  waitForSerial(re: RegExp, timeoutMs: number, opts: { fatal?: RegExp; fatalGraceMs?: number } = {}): Promise<{ match: RegExpExecArray; t: number }> {
    const fatal = opts.fatal;
    const fatalGraceMs = opts.fatalGraceMs ?? 20_000;
    return new Promise((resolve, reject) => {
      let seen = 0;
      let done = false;
      let fatalAt: NodeJS.Timeout | undefined;
      const check = () => {
        for (; seen < this.lines.length; seen++) {
          const l = this.lines[seen];
          if (l === undefined) continue;
          const m = re.exec(l.line);
          if (m !== null) {
            finish();
            resolve({ match: m, t: l.t });
            return;
          }
        }
        if (this.proc.exited && !done) {
          // finish first: #poll() runs the waiters again, and this one must not be among them
          finish();
          this.#poll();
          for (; seen < this.lines.length; seen++) {
            const m = re.exec(this.lines[seen]?.line ?? '');
            if (m !== null) return resolve({ match: m, t: this.lines[seen]!.t });
          }
          reject(new Error(`${this.name}: QEMU exited before ${re}; serial tail:\n${this.tail()}\nqemu: ${this.proc.tail(5)}`));
          return;
        }
        // The firmware gave up (iPXE "Nothing to boot", EDK2 "PXE-E16: No valid offer received",
        // SeaBIOS "No bootable device"): say so within a grace period instead of at the timeout,
        // with the line that says why. The grace leaves room for a firmware retry that succeeds.
        if (fatal !== undefined && fatalAt === undefined) {
          const bad = this.lines.find((l) => fatal.test(l.line));
          if (bad !== undefined) {
            fatalAt = setTimeout(() => {
              finish();
              reject(new Error(`${this.name}: the firmware gave up ("${bad.line.trim()}" at ${(bad.t / 1000).toFixed(1)} s) and no line matching ${re} followed within ${fatalGraceMs} ms; serial tail:\n${this.tail()}`));
            }, fatalGraceMs);
          }
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: no serial line matching ${re} within ${timeoutMs} ms; serial tail:\n${this.tail()}`));
      }, timeoutMs);
      const finish = () => {
        done = true;
        clearTimeout(timer);
        clearTimeout(fatalAt);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Wait for the PXEPOOL-BOOTED marker; fails soon after the firmware says it gave up. */
  async waitForMarker(timeoutMs: number): Promise<BootResult> {
    const { match, t } = await this.waitForSerial(MARKER_RE, timeoutMs, { fatal: FIRMWARE_GAVE_UP });
    return { mac: match[1] ?? '', server: match[2] ?? '', line: match[0], seconds: t / 1000 };
  }

  tail(n = 25): string {
    return this.lines
      .slice(-n)
      .map((l) => `${(l.t / 1000).toFixed(1).padStart(6)}s ${l.line}`)
      .join('\n');
  }

  /** Timestamped serial transcript. */
  transcript(): string {
    return this.tail(Number.MAX_SAFE_INTEGER);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.proc.stop(2000);
    this.#poll();
  }
}

/** Start a PXE client VM on a lab tap. */
export function startClient(lab: Lab, opts: QemuClientOptions): QemuClient {
  const n = clientCounter++;
  const name = opts.name ?? `${opts.firmware}${n}`;
  const mac = opts.mac ?? `52:54:00:77:${((process.pid >> 0) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
  const uuid = opts.uuid ?? randomUUID();
  const serialLog = join(opts.workDir, `${name}.serial.log`);
  // A log left by an earlier run (same PXEPOOL_E2E_OUT) would hold an old marker: a false pass.
  rmSync(serialLog, { force: true });
  const args = ['-accel', 'tcg', '-m', String(opts.memoryMb ?? 256), '-display', 'none', '-no-reboot', '-uuid', uuid, '-name', name];
  args.push('-monitor', 'none', '-serial', `file:${serialLog}`, '-netdev', `tap,id=net0,ifname=${opts.tap},script=no,downscript=no`);
  // Booting from an image, the NIC comes second: OVMF connects only the devices QEMU lists in
  // its boot order, and a NIC it never connected has no network protocol for the loader to use.
  const nicBoot = opts.bootImage === undefined ? ",bootindex=1" : ",bootindex=2";
  if (opts.bootImage !== undefined) {
    const { path, as } = opts.bootImage;
    args.push('-drive', `file=${path},format=raw,if=none,id=boot0,${as === 'cdrom' ? 'media=cdrom,readonly=on' : 'snapshot=on'}`);
    args.push('-device', as === 'cdrom' ? 'ide-cd,drive=boot0,bootindex=1' : 'virtio-blk-pci,drive=boot0,bootindex=1');
  }
  if (opts.firmware === 'bios') {
    args.push('-machine', 'pc,graphics=off', '-device', `virtio-net-pci,netdev=net0,mac=${mac}${nicBoot}`);
  } else if (opts.firmware === 'aavmf') {
    // TCG: a Cortex-A57 (no pointer authentication to emulate); AAVMF's two 64 MiB flashes.
    const vars = join(opts.workDir, `${name}.AAVMF_VARS.fd`);
    copyFileSync(opts.secureBoot === true ? AAVMF.varsMs : AAVMF.vars, vars);
    args.push(
      '-machine', 'virt', '-cpu', 'cortex-a57',
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${AAVMF.code}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
      '-device', `virtio-net-pci,netdev=net0,mac=${mac},romfile=${nicBoot}`,
    );
  } else {
    const vars = join(opts.workDir, `${name}.OVMF_VARS.fd`);
    const sb = opts.secureBoot === true;
    copyFileSync(sb ? FIRMWARE_FILES.ovmfVarsMs : FIRMWARE_FILES.ovmfVars, vars);
    if (sb) args.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
    args.push(
      '-machine',
      sb ? 'q35,smm=on' : 'q35',
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${sb ? FIRMWARE_FILES.ovmfCodeSecboot : FIRMWARE_FILES.ovmfCode}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${vars}`,
      '-device',
      `virtio-net-pci,netdev=net0,mac=${mac},romfile=${nicBoot}`,
    );
  }
  args.push(...(opts.extraArgs ?? []));
  const proc = lab.spawn(lab.switchNs, opts.firmware === 'aavmf' ? 'qemu-system-aarch64' : 'qemu-system-x86_64', args, { name: `qemu:${name}` });
  return new QemuClient(name, opts.firmware, mac, uuid, serialLog, proc);
}
