// `pxepool media`: boot media that reach the pool without PXE (docs/media.md).
import { Command, Option } from 'commander';
import { formatErrors, loadConfig } from '../config/load.ts';
import { buildMedia, buildNbp, MEDIA_FORMATS, MediaBuildError, NBP_ARCHES, type BuildResult, type MediaFormat, type NbpArch } from '../media/build.ts';
import { planMedia, type MediaRequest } from '../media/plan.ts';

interface MediaCliOptions extends MediaRequest {
  config: string;
  out: string;
  format: MediaFormat;
  printScripts?: boolean;
  secureBoot?: boolean;
  arch: NbpArch;
  grubModules?: string;
}

export const mediaCommand = new Command('media')
  .description('write a hybrid ISO/USB image (or an EFI boot partition) that boots BIOS and UEFI machines from the pool without PXE: plain DHCP from the site server, then this machine\'s script from the first live peer')
  .requiredOption('-c, --config <file>', 'the pool\'s YAML config (its pool.peers and http.port name the servers)')
  .requiredOption('-o, --out <file>', 'image to write, e.g. boot.iso')
  .addOption(new Option('-f, --format <format>', 'iso and usb are the same hybrid image (CD, DVD, USB stick, disk); efi-img is the UEFI boot partition alone; nbp is GRUB alone as a PXE / HTTP boot file (for ARM64 UEFI: --arch arm64)').choices([...MEDIA_FORMATS]).default('iso'))
  .addOption(new Option('--arch <arch>', 'with --format nbp: the UEFI architecture the boot file is for').choices(Object.keys(NBP_ARCHES)).default('x64'))
  .option('--grub-modules <dir>', 'with --format nbp: grub-mkimage\'s module directory for that architecture (default /usr/lib/grub/x86_64-efi or arm64-efi)')
  .option('--peers <list>', 'boot servers as host[:port],… in the order to try, instead of pool.peers')
  .option('--ip <address/prefix>', 'a static address instead of DHCP, e.g. 10.0.0.50/24')
  .option('--gateway <address>', 'with --ip: the default gateway')
  .option('--dns <address>', 'with --ip: a DNS server (needed when a peer is named by DNS name)')
  .option('--vlan <id>', '802.1Q VLAN id for the boot NIC (see docs/media.md for UEFI)')
  .option('--secure-boot', 'UEFI loader: Debian\'s signed shim and GRUB (boots with Secure Boot on or off; the pool\'s kernels must be signed)')
  .option('--print-scripts', 'also print the iPXE script and GRUB config written into the image')
  .addHelpText('after', `
Examples:
  pxepool media --config /etc/pxepool/pxepool.yaml --out boot.iso
  pxepool media --config pxepool.yaml --out lab.img --format usb --peers 10.0.0.20,10.0.0.21
  pxepool media --config pxepool.yaml --out sb.iso --secure-boot
  pxepool media --config pxepool.yaml --out static.iso --ip 10.0.0.50/24 --gateway 10.0.0.1 --vlan 20
  pxepool media --config pxepool.yaml --format nbp --arch arm64 --grub-modules /tmp/grub-arm64/usr/lib/grub/arm64-efi --out /srv/pxepool/grubaa64.efi`)
  .action((o: MediaCliOptions) => {
    const r = loadConfig(o.config);
    if (!r.ok) {
      process.stderr.write(`${formatErrors(r.errors)}\npxepool media: ${r.errors.length} error(s) in ${o.config}\n`);
      process.exit(1);
    }
    const nbp = o.format === 'nbp';
    if (!nbp && (o.arch !== 'x64' || o.grubModules !== undefined)) {
      process.stderr.write(`pxepool media: --arch and --grub-modules go with --format nbp (the ${o.format} image is for x64 BIOS and UEFI machines); for ARM64 write --format nbp --arch arm64\n`);
      process.exit(1);
    }
    const p = planMedia(r.config, { ...o, secureBoot: o.secureBoot === true, nbp }, o.config);
    if (!p.ok) {
      process.stderr.write(`pxepool media: ${p.error}\n`);
      process.exit(1);
    }
    try {
      let b: BuildResult;
      if (o.format === 'nbp') {
        b = buildNbp(p.plan, o.out, { arch: o.arch, ...(o.grubModules !== undefined ? { grubModules: o.grubModules } : {}) });
        if (o.printScripts) process.stdout.write(`# grub.cfg (in the boot file's memdisk)\n${b.grubConfig}\n`);
      } else {
        b = buildMedia(p.plan, o.out, o.format, { secureBoot: o.secureBoot === true });
        if (o.printScripts) process.stdout.write(`# media.ipxe (BIOS)\n${b.ipxeScript}\n# media.cfg (UEFI)\n${b.grubConfig}\n`);
      }
      const what = nbp ? `nbp, GRUB for ${NBP_ARCHES[o.arch].target}: name it in a profile's ${NBP_ARCHES[o.arch].profileField}` : `${o.format}${o.secureBoot === true ? ', Secure Boot: shim + signed GRUB' : ''}`;
      process.stdout.write(`wrote ${b.out} (${what}, ${b.bytes} bytes): boot servers ${p.plan.servers.map((s) => `${s.name} ${s.host}:${s.port}`).join(', ')}\n`);
    } catch (e) {
      if (!(e instanceof MediaBuildError)) throw e;
      process.stderr.write(`pxepool media: ${e.message}\n`);
      process.exit(1);
    }
  });
