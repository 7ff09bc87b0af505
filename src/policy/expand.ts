// Placeholders in boot file names that pxepool fills in itself (iPXE fills in the rest).

/**
 * `${server}` in a boot file URL names the boot server that will deliver it (siaddr), so a URL
 * follows next-server steering. Other `${…}` are iPXE settings, expanded by iPXE itself.
 */
export function expandServer(bootFile: string, server: string, httpPort = 80): string {
  if (!bootFile.includes('${server}')) return bootFile;
  return bootFile.replaceAll('${server}', httpPort === 80 ? server : `${server}:${httpPort}`);
}
