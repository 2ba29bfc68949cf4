/**
 * `npm run simulate -- <platform> [options] "question"` plays a chat platform against a running Parley:
 * it sends a correctly signed/encrypted webhook and prints the answer as it arrives.
 */
import { parseArgs } from 'node:util';

type Runner = (args: string[]) => Promise<void>;

const PLATFORMS: Record<string, () => Promise<{ run: Runner }>> = {
  wecom: () => import('./simulate/wecom.js'),
  tencent: () => import('./simulate/tencent.js'),
  cometchat: () => import('./simulate/cometchat.js'),
};

async function main(): Promise<void> {
  const [platform, ...rest] = process.argv.slice(2);
  const load = platform ? PLATFORMS[platform] : undefined;
  if (!load) {
    const { values } = parseArgs({ options: { help: { type: 'boolean' } }, strict: false });
    process.stderr.write(
      `usage: npm run simulate -- <${Object.keys(PLATFORMS).join('|')}> [options] "question"\n` +
        '       npm run simulate -- <platform> --help\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  await (await load()).run(rest);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
