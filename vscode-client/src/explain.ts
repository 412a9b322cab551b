/**
 * "CodePager: Explain This": sends the server's `codepager.explain` for the selection (or the
 * symbol at the cursor) and shows the Markdown answer in a panel beside the editor. Cancellable
 * from the notification, by closing the panel, or by asking again.
 */
import type { CancellationToken, CancellationTokenSource, Disposable, TextEditor, WebviewPanel } from 'vscode';
import {
    ExecuteCommandRequest,
    type LanguageClient,
    LSPErrorCodes,
    ResponseError,
    WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
    createWebviewPanel,
    executeCommand,
    newCancellationTokenSource,
    newRange,
    withCancellableNotification,
} from './vscodeapi';

export const EXPLAIN_THIS_COMMAND = 'codepager.explainThis';
export const SERVER_EXPLAIN_COMMAND = 'codepager.explain';

export interface LspPosition {
    line: number;
    character: number;
}

export interface LspRange {
    start: LspPosition;
    end: LspPosition;
}

export interface ExplainArgument {
    textDocument: { uri: string };
    range: LspRange;
}

export type ExplainOutcome =
    | { kind: 'markdown'; markdown: string }
    | { kind: 'cancelled' }
    | { kind: 'error'; message: string };

/** The selection when there is one, else the word (symbol) at the cursor, else the cursor itself. */
export function explainRange(selection: LspRange, wordAtCursor: LspRange | undefined): LspRange {
    const empty =
        selection.start.line === selection.end.line && selection.start.character === selection.end.character;
    const range = !empty ? selection : (wordAtCursor ?? selection);
    return {
        start: { line: range.start.line, character: range.start.character },
        end: { line: range.end.line, character: range.end.character },
    };
}

export function explainArguments(uri: string, range: LspRange): [ExplainArgument] {
    return [{ textDocument: { uri }, range }];
}

export function escapeHtml(text: string): string {
    return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A complete webview page around already-rendered HTML; no scripts, styles from the theme. */
export function explainPage(title: string, bodyHtml: string, cspSource: string): string {
    return [
        '<!DOCTYPE html>',
        '<html lang="en"><head><meta charset="UTF-8">',
        `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; ` +
            `img-src ${cspSource} https: data:; style-src ${cspSource} 'unsafe-inline';">`,
        `<title>${escapeHtml(title)}</title>`,
        '<style>body{font-family:var(--vscode-font-family);font-size:var(--vscode-font-size);' +
            'line-height:1.5;padding:0 1em}pre,code{font-family:var(--vscode-editor-font-family)}' +
            '.note{opacity:.75;font-style:italic}</style>',
        `</head><body>${bodyHtml}</body></html>`,
    ].join('\n');
}

/**
 * Sends `codepager.explain` and waits for its Markdown. Cancelling the token sends `$/cancelRequest`
 * and resolves at once with `cancelled`, whether or not the server has answered yet.
 */
export async function requestExplanation(
    client: Pick<LanguageClient, 'sendRequest' | 'onProgress'>,
    args: [ExplainArgument],
    token: CancellationToken,
    onProgressMessage: (message: string) => void = () => undefined,
): Promise<ExplainOutcome> {
    if (token.isCancellationRequested) {
        return { kind: 'cancelled' };
    }
    const workDoneToken = `codepager-explain-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const progress = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
        if (value.kind !== 'end' && value.message !== undefined) {
            onProgressMessage(value.message);
        }
    });
    let cancelListener: Disposable | undefined;
    const cancelled = new Promise<ExplainOutcome>((resolve) => {
        cancelListener = token.onCancellationRequested(() => resolve({ kind: 'cancelled' }));
    });
    const answered = client
        .sendRequest(
            ExecuteCommandRequest.type,
            { command: SERVER_EXPLAIN_COMMAND, arguments: args, workDoneToken },
            token,
        )
        .then(toOutcome, (error: unknown) => errorOutcome(error));
    try {
        return await Promise.race([answered, cancelled]);
    } finally {
        cancelListener?.dispose();
        progress.dispose();
    }
}

function toOutcome(result: unknown): ExplainOutcome {
    if (typeof result === 'object' && result !== null && typeof (result as { markdown?: unknown }).markdown === 'string') {
        return { kind: 'markdown', markdown: (result as { markdown: string }).markdown };
    }
    return { kind: 'error', message: `${SERVER_EXPLAIN_COMMAND} returned ${JSON.stringify(result)}, not {markdown}` };
}

function errorOutcome(error: unknown): ExplainOutcome {
    if (
        error instanceof ResponseError &&
        (error.code === LSPErrorCodes.RequestCancelled || error.code === LSPErrorCodes.ServerCancelled)
    ) {
        return { kind: 'cancelled' };
    }
    return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
}

/** The one explanation panel of the window, reused across requests. */
export class ExplainView implements Disposable {
    private panel: WebviewPanel | undefined;
    private inFlight: CancellationTokenSource | undefined;

    constructor(private readonly client: () => LanguageClient | undefined) {}

    async explain(editor: TextEditor | undefined): Promise<ExplainOutcome> {
        const client = this.client();
        if (editor === undefined) {
            return { kind: 'error', message: 'open a file and put the cursor on what to explain' };
        }
        if (client === undefined) {
            return { kind: 'error', message: 'the CodePager server is not running' };
        }
        const document = editor.document;
        const range = explainRange(editor.selection, document.getWordRangeAtPosition(editor.selection.active));
        const subject = document.getText(newRange(range)).trim().split('\n')[0];
        const title = `Explain: ${subject.slice(0, 40) || document.fileName.split(/[\\/]/).pop()}`;
        this.inFlight?.cancel();
        const source = newCancellationTokenSource();
        this.inFlight = source;
        const panel = this.showPanel(title);
        this.render(panel, title, '<p class="note">Explaining…</p>');
        const outcome = await withCancellableNotification('CodePager: explaining…', (notificationToken) => {
            const link = notificationToken.onCancellationRequested(() => source.cancel());
            return requestExplanation(
                client,
                explainArguments(document.uri.toString(), range),
                source.token,
                (message) => {
                    if (this.inFlight === source) {
                        this.render(panel, title, `<p class="note">${escapeHtml(message)}</p>`);
                    }
                },
            ).finally(() => link.dispose());
        });
        source.dispose();
        if (this.inFlight === source) {
            // A newer request owns the panel otherwise; this one's answer is no longer wanted.
            this.inFlight = undefined;
            await this.show(panel, title, outcome);
        }
        return outcome;
    }

    dispose(): void {
        this.inFlight?.cancel();
        this.panel?.dispose();
    }

    private showPanel(title: string): WebviewPanel {
        if (this.panel === undefined) {
            const panel = createWebviewPanel('codepager.explain', title);
            panel.onDidDispose(() => {
                this.panel = undefined;
                this.inFlight?.cancel();
            });
            this.panel = panel;
        } else {
            this.panel.title = title;
            this.panel.reveal(undefined, true);
        }
        return this.panel;
    }

    private async show(panel: WebviewPanel, title: string, outcome: ExplainOutcome): Promise<void> {
        if (this.panel !== panel) {
            return;
        }
        switch (outcome.kind) {
            case 'markdown':
                this.render(panel, title, await renderMarkdown(outcome.markdown));
                return;
            case 'cancelled':
                this.render(panel, title, '<p class="note">Cancelled.</p>');
                return;
            case 'error':
                this.render(panel, title, `<p class="note">Failed: ${escapeHtml(outcome.message)}</p>`);
                return;
        }
    }

    private render(panel: WebviewPanel, title: string, bodyHtml: string): void {
        if (this.panel === panel) {
            panel.webview.html = explainPage(title, bodyHtml, panel.webview.cspSource);
        }
    }
}

/** Markdown to HTML through VS Code's built-in Markdown extension, plain text if it is missing. */
async function renderMarkdown(markdown: string): Promise<string> {
    try {
        const html = await executeCommand<string>('markdown.api.render', markdown);
        if (typeof html === 'string') {
            return html;
        }
    } catch {
        // Built-in Markdown extension disabled: fall through to preformatted text.
    }
    return `<pre>${escapeHtml(markdown)}</pre>`;
}
