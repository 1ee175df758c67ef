/** Runs the CLI from source in a child process and captures its output. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  const cli = path.resolve('test/helpers/run-cli.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), cli, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, HMS_LOG_LEVEL: 'silent', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hms-sync ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Starts `hms-sync run <config>` from source as a child process (for crash tests). */
export function startRun(config: string, opts: { logLevel?: string; stderr?: 'pipe' | 'ignore'; env?: Record<string, string | undefined>; args?: string[] } = {}): ChildProcess {
  const cli = path.resolve('test/helpers/run-cli.ts');
  return spawn(process.execPath, ['--import', import.meta.resolve('tsx'), cli, 'run', config, '--log-level', opts.logLevel ?? 'silent', ...(opts.args ?? [])], {
    stdio: ['ignore', 'ignore', opts.stderr ?? 'pipe'],
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
  });
}

/** SIGKILLs a child (no clean-up of any kind runs) and resolves once it is gone. */
export function sigkill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * A `hms-sync run` child that crash tests kill and restart: keeps the tail of its stderr and
 * knows when the current process has started (a signal during start-up ends a process the default
 * way, before any handler exists).
 */
export class RunChild {
  child!: ChildProcess;
  stderr = '';
  started = false;
  constructor(private readonly config: string) {
    this.spawn();
  }

  private spawn(): void {
    const c = startRun(this.config, { logLevel: 'info' });
    this.child = c;
    this.started = false;
    c.stderr?.on('data', (d: Buffer) => {
      const text = d.toString();
      if (c === this.child && text.includes('"msg":"engine started"')) this.started = true;
      this.stderr = (this.stderr + text).slice(-4000);
    });
  }

  /** SIGKILL the current process and start a new one. */
  async restart(): Promise<void> {
    await sigkill(this.child);
    this.spawn();
  }

  /** SIGTERM once started; resolves with the exit code (0 for a clean shutdown). */
  async terminate(timeoutMs = 30_000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.started && this.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const exit = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill('SIGTERM');
    return exit;
  }

  kill(): Promise<void> {
    return sigkill(this.child);
  }
}
