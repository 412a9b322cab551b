/**
 * The codepager server process and its language client: options, start, stop, restart. One
 * server per window, launched as `<python> -m codepager.lsp` over stdio.
 */
import type { Disposable, LogOutputChannel } from 'vscode';
import {
    DidChangeConfigurationNotification,
    LanguageClient,
    type LanguageClientOptions,
    RevealOutputChannelOn,
    type ServerOptions,
    State,
    TransportKind,
} from 'vscode-languageclient/node';
import type { InterpreterChoice } from './python';
import { type CodepagerSettings, type ResolvedSettings, serverConfiguration } from './settings';

export const CLIENT_ID = 'codepager';
export const CLIENT_NAME = 'CodePager';
export const SERVER_MODULE = 'codepager.lsp';

/** Languages the index parses (tree-sitter grammars shipped with codepager). */
export const LANGUAGES = [
    'python',
    'javascript',
    'javascriptreact',
    'typescript',
    'typescriptreact',
    'go',
    'rust',
    'java',
    'c',
    'cpp',
] as const;

export const DOCUMENT_SELECTOR = LANGUAGES.flatMap((language) => [
    { scheme: 'file', language },
    { scheme: 'untitled', language },
]);

export function serverOptions(interpreter: InterpreterChoice, cwd: string | undefined): ServerOptions {
    return {
        command: interpreter.command,
        args: ['-m', SERVER_MODULE],
        transport: TransportKind.stdio,
        options: { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
}

export function clientOptions(settings: CodepagerSettings, outputChannel: LogOutputChannel): LanguageClientOptions {
    return {
        documentSelector: DOCUMENT_SELECTOR,
        initializationOptions: serverConfiguration(settings),
        outputChannel,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        middleware: {
            // VS Code shows the server's completions as ghost text through textDocument/inlineCompletion;
            // asking textDocument/completion as well would run the model twice per keystroke.
            provideCompletionItem: () => undefined,
        },
    };
}

export interface ServerDependencies {
    outputChannel: LogOutputChannel;
    readSettings(): ResolvedSettings;
    chooseInterpreter(setting: string): Promise<InterpreterChoice>;
    workspaceFolder(): string | undefined;
    /** Called with each newly started client; returns what to dispose when that client stops. */
    onClientStarted(client: LanguageClient, interpreter: InterpreterChoice): Disposable[];
    onStartFailed(message: string): void;
    onStopped(enabled: boolean): void;
}

export class ServerController implements Disposable {
    private client: LanguageClient | undefined;
    private clientDisposables: Disposable[] = [];
    private queue: Promise<void> = Promise.resolve();

    constructor(private readonly deps: ServerDependencies) {}

    /** The client when its server is running, else undefined. */
    get runningClient(): LanguageClient | undefined {
        return this.client?.state === State.Running ? this.client : undefined;
    }

    /** Stops any running server and starts a new one if `codepager.enable` is on. */
    restart(): Promise<void> {
        return this.enqueue(async () => {
            await this.stopClient();
            await this.startClient();
        });
    }

    stop(): Promise<void> {
        return this.enqueue(() => this.stopClient());
    }

    /** Sends the current server settings to the running server. */
    async updateSettings(): Promise<void> {
        const client = this.runningClient;
        if (client === undefined) {
            return;
        }
        const { settings } = this.deps.readSettings();
        await client.sendNotification(DidChangeConfigurationNotification.type, {
            settings: serverConfiguration(settings),
        });
    }

    dispose(): void {
        void this.stop();
    }

    private enqueue(task: () => Promise<void>): Promise<void> {
        this.queue = this.queue.then(task, task);
        return this.queue;
    }

    private async startClient(): Promise<void> {
        const { outputChannel } = this.deps;
        const { settings, problems } = this.deps.readSettings();
        for (const problem of problems) {
            outputChannel.warn(problem);
        }
        if (!settings.enable) {
            outputChannel.info('codepager.enable is off; the server is not started');
            this.deps.onStopped(false);
            return;
        }
        const interpreter = await this.deps.chooseInterpreter(settings.interpreter);
        outputChannel.info(`starting ${interpreter.command} -m ${SERVER_MODULE} (interpreter from ${interpreter.source})`);
        const client = new LanguageClient(
            CLIENT_ID,
            CLIENT_NAME,
            serverOptions(interpreter, this.deps.workspaceFolder()),
            clientOptions(settings, outputChannel),
        );
        this.client = client;
        try {
            await client.start();
        } catch (error) {
            const reason = error instanceof Error ? error.message : String(error);
            this.deps.onStartFailed(
                `the server did not start with ${interpreter.command} (${reason}); ` +
                    `is codepager installed there? Set codepager.interpreter or see the CodePager output`,
            );
            this.client = undefined;
            await client.dispose().catch(() => undefined);
            return;
        }
        this.clientDisposables = this.deps.onClientStarted(client, interpreter);
    }

    private async stopClient(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        for (const disposable of this.clientDisposables.splice(0)) {
            disposable.dispose();
        }
        if (client === undefined) {
            return;
        }
        try {
            if (client.needsStop()) {
                await client.stop(3000);
            }
        } catch (error) {
            this.deps.outputChannel.warn(`stopping the server: ${String(error)}`);
        }
        this.deps.onStopped(true);
    }
}
