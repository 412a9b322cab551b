/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * A small stand-in for the `vscode` module: enough of the API for our extension and
 * vscode-languageclient to run in plain Node. State the tests inspect or drive lives in `fake`.
 */
import * as path from 'node:path';
import {
    CancellationTokenSource,
    Disposable,
    EventEmitter,
    LogLevel,
    TabInputText,
    TextDocument,
    UIKind,
    Uri,
} from './fakeTypes';

export * from './fakeTypes';

function fakeOutputChannel(name: string): any {
    const lines: string[] = [];
    const log = (level: string) => (message: unknown, ...rest: unknown[]) =>
        lines.push(`[${level}] ${String(message)}${rest.length ? ' ' + rest.map(String).join(' ') : ''}`);
    return {
        name,
        lines,
        logLevel: LogLevel.Info,
        onDidChangeLogLevel: new EventEmitter<number>().event,
        append: (value: string) => lines.push(value),
        appendLine: (value: string) => lines.push(value),
        replace: (value: string) => lines.splice(0, lines.length, value),
        trace: log('trace'),
        debug: log('debug'),
        info: log('info'),
        warn: log('warning'),
        error: log('error'),
        clear: () => lines.splice(0),
        show: () => undefined,
        hide: () => undefined,
        dispose: () => undefined,
    };
}

function noop(): Disposable {
    return new Disposable(() => undefined);
}

const emitters = {
    didChangeConfiguration: new EventEmitter<any>(),
    didOpenTextDocument: new EventEmitter<TextDocument>(),
    didCloseTextDocument: new EventEmitter<TextDocument>(),
    didChangeTextDocument: new EventEmitter<any>(),
};

/** What tests drive and inspect. */
export const fake = {
    configuration: new Map<string, unknown>(),
    commands: new Map<string, (...args: any[]) => unknown>(),
    inlineProviders: [] as { selector: unknown; provider: any }[],
    messages: [] as { level: string; message: string }[],
    panels: [] as any[],
    /** Cancels the notification of the `withProgress` call in flight. */
    progressSources: [] as CancellationTokenSource[],
    outputChannels: [] as any[],
    extensions: new Map<string, unknown>(),
    openDocument(fileName: string, languageId: string, text: string): TextDocument {
        const document = new TextDocument(fileName, languageId, text);
        workspace.textDocuments.push(document);
        window.tabGroups.all[0].tabs.push({ input: new TabInputText(document.uri) });
        emitters.didOpenTextDocument.fire(document);
        return document;
    },
    changeConfiguration(values: Record<string, unknown>): void {
        const keys = Object.keys(values);
        keys.forEach((key) => fake.configuration.set(key, values[key]));
        emitters.didChangeConfiguration.fire({
            affectsConfiguration: (section: string) =>
                keys.some((key) => key === section || key.startsWith(section + '.')),
        });
    },
};

export const version = '1.91.0';

export const env = {
    appName: 'Visual Studio Code (fake)',
    appRoot: path.sep,
    language: 'en',
    machineId: 'fake-machine',
    sessionId: 'fake-session',
    uiKind: UIKind.Desktop,
    uriScheme: 'vscode',
    openExternal: () => Promise.resolve(true),
};

export const workspace = {
    workspaceFolders: undefined as { uri: Uri; name: string; index: number }[] | undefined,
    textDocuments: [] as TextDocument[],
    notebookDocuments: [] as unknown[],
    getConfiguration(section?: string): any {
        const prefix = section === undefined || section === '' ? '' : `${section}.`;
        return {
            get: (key: string, defaultValue?: unknown) => fake.configuration.get(prefix + key) ?? defaultValue,
            has: (key: string) => fake.configuration.has(prefix + key),
            inspect: () => undefined,
            update: (key: string, value: unknown) => {
                fake.configuration.set(prefix + key, value);
                return Promise.resolve();
            },
        };
    },
    getWorkspaceFolder: (uri: Uri) => workspace.workspaceFolders?.find((f) => uri.fsPath.startsWith(f.uri.fsPath)),
    onDidChangeConfiguration: emitters.didChangeConfiguration.event,
    onDidOpenTextDocument: emitters.didOpenTextDocument.event,
    onDidCloseTextDocument: emitters.didCloseTextDocument.event,
    onDidChangeTextDocument: emitters.didChangeTextDocument.event,
    onDidSaveTextDocument: noopEvent(),
    onWillSaveTextDocument: noopEvent(),
    onDidChangeWorkspaceFolders: noopEvent(),
    onDidOpenNotebookDocument: noopEvent(),
    onDidChangeNotebookDocument: noopEvent(),
    onDidSaveNotebookDocument: noopEvent(),
    onDidCloseNotebookDocument: noopEvent(),
    onDidCreateFiles: noopEvent(),
    onDidRenameFiles: noopEvent(),
    onDidDeleteFiles: noopEvent(),
    onWillCreateFiles: noopEvent(),
    onWillRenameFiles: noopEvent(),
    onWillDeleteFiles: noopEvent(),
    createFileSystemWatcher: () => ({
        onDidCreate: noopEvent(),
        onDidChange: noopEvent(),
        onDidDelete: noopEvent(),
        dispose: () => undefined,
    }),
    registerTextDocumentContentProvider: noop,
    applyEdit: () => Promise.resolve(true),
};

function noopEvent(): (...args: unknown[]) => Disposable {
    return () => noop();
}

export const window = {
    activeTextEditor: undefined as unknown,
    visibleTextEditors: [] as unknown[],
    tabGroups: {
        all: [{ tabs: [] as { input: unknown }[] }],
        onDidChangeTabs: noopEvent(),
        onDidChangeTabGroups: noopEvent(),
    },
    onDidChangeActiveTextEditor: noopEvent(),
    onDidChangeVisibleTextEditors: noopEvent(),
    createOutputChannel(name: string): any {
        const channel = fakeOutputChannel(name);
        fake.outputChannels.push(channel);
        return channel;
    },
    createStatusBarItem(id: string, alignment?: number, priority?: number): any {
        return { id, alignment, priority, text: '', tooltip: '', show: () => undefined, hide: () => undefined, dispose: () => undefined };
    },
    createWebviewPanel(viewType: string, title: string): any {
        const disposed = new EventEmitter<void>();
        const panel = {
            viewType,
            title,
            disposed: false,
            webview: { html: '', cspSource: 'fake-csp', onDidReceiveMessage: noopEvent() },
            onDidDispose: disposed.event,
            reveal: () => undefined,
            dispose: () => {
                panel.disposed = true;
                disposed.fire();
            },
        };
        fake.panels.push(panel);
        return panel;
    },
    withProgress<T>(_options: unknown, task: (progress: unknown, token: unknown) => Thenable<T>): Thenable<T> {
        const source = new CancellationTokenSource();
        fake.progressSources.push(source);
        return task({ report: () => undefined }, source.token);
    },
    showInformationMessage: (message: string) => record('info', message),
    showWarningMessage: (message: string) => record('warning', message),
    showErrorMessage: (message: string) => record('error', message),
};

function record(level: string, message: string): Promise<undefined> {
    fake.messages.push({ level, message });
    return Promise.resolve(undefined);
}

export const commands = {
    registerCommand(id: string, handler: (...args: any[]) => unknown): Disposable {
        if (fake.commands.has(id)) {
            throw new Error(`command '${id}' already exists`);
        }
        fake.commands.set(id, handler);
        return new Disposable(() => fake.commands.delete(id));
    },
    executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
        const handler = fake.commands.get(id);
        return handler === undefined
            ? Promise.reject(new Error(`command '${id}' not found`))
            : Promise.resolve(handler(...args));
    },
    getCommands: () => Promise.resolve([...fake.commands.keys()]),
};

export const extensions = {
    getExtension: (id: string) => fake.extensions.get(id),
    all: [] as unknown[],
    onDidChange: noopEvent(),
};

function matchesFilter(filter: any, document: TextDocument): boolean {
    if (typeof filter === 'string') {
        return filter === '*' || filter === document.languageId;
    }
    return (
        (filter.language === undefined || filter.language === '*' || filter.language === document.languageId) &&
        (filter.scheme === undefined || filter.scheme === '*' || filter.scheme === document.uri.scheme) &&
        filter.pattern === undefined
    );
}

export const languages = {
    match(selector: any, document: TextDocument): number {
        const filters = Array.isArray(selector) ? selector : [selector];
        return filters.some((filter) => matchesFilter(filter, document)) ? 10 : 0;
    },
    registerInlineCompletionItemProvider(selector: unknown, provider: unknown): Disposable {
        const entry = { selector, provider };
        fake.inlineProviders.push(entry);
        return new Disposable(() => fake.inlineProviders.splice(fake.inlineProviders.indexOf(entry), 1));
    },
    registerCompletionItemProvider: noop,
    createDiagnosticCollection: () => ({ set: () => undefined, delete: () => undefined, clear: () => undefined, dispose: () => undefined }),
    onDidChangeDiagnostics: noopEvent(),
};
