#!/usr/bin/env node
// Stand-alone entry for `relay` and `dhcp-snippet` until src/cli/main.ts registers them.
import { Command } from 'commander';
import { relayCommand } from '../cli/relay.ts';
import { snippetCommand } from '../cli/snippet.ts';

const program = new Command().name('pxepool');
program.addCommand(relayCommand);
program.addCommand(snippetCommand);
await program.parseAsync(process.argv);
