import type { Command } from 'commander';

/** `hms-sync copybook layout|decode|encode` (filled in by the copybook codec work). */
export function register(program: Command, _setCode: (code: number) => void): void {
  program.command('copybook').description('Look at and convert COBOL copybook records (layout, decode, encode)');
}
