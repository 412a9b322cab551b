/**
 * Entry point: wires settings, the server controller, the status bar and the commands together.
 */
import { homedir } from 'node:os';
import type { Disposable, ExtensionContext, LogOutputChannel } from 'vscode';
import { State } from 'vscode-languageclient/node';
import { Debouncer } from './debounce';
import { EXPLAIN_THIS_COMMAND, ExplainView } from './explain';
import { chooseInterpreter, onDidChangePythonInterpreter, pythonExtensionExecutable } from './python';
import { ServerController } from './server';
import { type ResolvedSettings, SECTION, reactionToChange, resolveSettings } from './settings';
import { SHOW_STATUS_COMMAND, StatusBar } from './status';
import {
    activeTextEditor,
    createOutputChannel,
    getConfiguration,
    onDidChangeConfiguration,
    registerCommand,
    showErrorMessage,
    showWarningMessage,
    workspaceFolders,
} from './vscodeapi';

export const RESTART_COMMAND = 'codepager.restartServer';
const CONFIGURATION_DEBOUNCE_MS = 500;

let activeController: ServerController | undefined;

/** What `activate` returns: the running pieces, for other extensions and for tests. */
export interface CodepagerApi {
    controller: ServerController;
    status: StatusBar;
    explainView: ExplainView;
    outputChannel: LogOutputChannel;
    /** Resolves when the first server start has been attempted. */
    started: Promise<void>;
}

function readSettings(): ResolvedSettings {
    const configuration = getConfiguration(SECTION);
    return resolveSettings((key) => configuration.get(key), {
        home: homedir(),
        workspaceFolder: workspaceFolders()[0]?.uri.fsPath,
    });
}

export function activate(context: ExtensionContext): CodepagerApi {
    const outputChannel = createOutputChannel('CodePager');
    const status = new StatusBar();
    const controller = new ServerController({
        outputChannel,
        readSettings,
        chooseInterpreter: async (setting) => {
            let fromPythonExtension: string | undefined;
            if (setting === '') {
                try {
                    fromPythonExtension = await pythonExtensionExecutable(workspaceFolders()[0]?.uri);
                } catch (error) {
                    outputChannel.warn(`asking the Python extension for its interpreter: ${String(error)}`);
                }
            }
            const choice = chooseInterpreter(setting, fromPythonExtension);
            status.update({ phase: 'starting', interpreter: choice.command, error: undefined, progress: undefined });
            return choice;
        },
        workspaceFolder: () => workspaceFolders()[0]?.uri.fsPath,
        onClientStarted: (client) => {
            status.update({ phase: 'running' });
            const stateListener = client.onDidChangeState(({ newState }) => {
                status.update({ phase: newState === State.Running ? 'running' : 'stopped', progress: undefined });
            });
            return [stateListener, ...status.attach(client)];
        },
        onStartFailed: (message) => {
            outputChannel.error(message);
            status.update({ phase: 'error', error: message });
            void showErrorMessage(`CodePager: ${message}`);
        },
        onStopped: (enabled) => status.update({ phase: enabled ? 'stopped' : 'disabled', progress: undefined }),
    });
    activeController = controller;
    const explainView = new ExplainView(() => controller.runningClient);

    const configurationChanges = new Debouncer(CONFIGURATION_DEBOUNCE_MS);
    let pendingReaction: 'restart' | 'update' | 'none' = 'none';
    const restartSoon = (): void => {
        pendingReaction = 'restart';
        configurationChanges.schedule(applyPending);
    };
    const applyPending = (): void => {
        const reaction = pendingReaction;
        pendingReaction = 'none';
        if (reaction === 'restart') {
            void controller.restart();
        } else if (reaction === 'update') {
            const { problems } = readSettings();
            problems.forEach((problem) => void showWarningMessage(`CodePager: ${problem}`));
            void controller.updateSettings();
        }
    };

    const disposables: Disposable[] = [
        outputChannel,
        status,
        controller,
        explainView,
        { dispose: () => configurationChanges.cancel() },
        registerCommand(RESTART_COMMAND, () => controller.restart()),
        registerCommand(SHOW_STATUS_COMMAND, () => status.showDetails(controller.runningClient)),
        registerCommand(EXPLAIN_THIS_COMMAND, async () => {
            const outcome = await explainView.explain(activeTextEditor());
            if (outcome.kind === 'error') {
                void showErrorMessage(`CodePager: ${outcome.message}`);
            }
            return outcome;
        }),
        onDidChangeConfiguration((event) => {
            const reaction = reactionToChange((section) => event.affectsConfiguration(section));
            if (reaction === 'none') {
                return;
            }
            if (reaction === 'restart' || pendingReaction !== 'restart') {
                pendingReaction = reaction;
            }
            configurationChanges.schedule(applyPending);
        }),
    ];
    context.subscriptions.push(...disposables);

    void onDidChangePythonInterpreter(() => {
        if (readSettings().settings.interpreter === '') {
            restartSoon();
        }
    }).then(
        (subscription) => subscription !== undefined && context.subscriptions.push(subscription),
        (error: unknown) => outputChannel.warn(`watching the Python extension's interpreter: ${String(error)}`),
    );

    const started = controller.restart();
    return { controller, status, explainView, outputChannel, started };
}

/** VS Code waits for this promise, so the server gets its shutdown/exit before the window closes. */
export function deactivate(): Promise<void> | undefined {
    const controller = activeController;
    activeController = undefined;
    return controller?.stop();
}
