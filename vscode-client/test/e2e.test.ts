/**
 * The extension's real client code and the real vscode-languageclient against the real server
 * (`python3 -m codepager.lsp`), with only the `vscode` module faked. Skipped, with the reason,
 * while `python3 -c "import codepager.lsp.server"` fails.
 */
import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as vscode from 'vscode';
import {
    ExecuteCommandRequest,
    InlineCompletionRequest,
    type LanguageClient,
    LSPErrorCodes,
    ResponseError,
} from 'vscode-languageclient/node';
import type { ExplainOutcome } from '../src/explain';
import { type CodepagerApi, activate, deactivate } from '../src/extension';
import { fake } from './fixtures';

const serverImport = spawnSync('python3', ['-c', 'import codepager.lsp.server'], { encoding: 'utf8' });
const skip =
    serverImport.status === 0
        ? false
        : `python3 -c "import codepager.lsp.server" fails: ${
              (serverImport.stderr ?? String(serverImport.error)).trim().split('\n').pop() ?? 'no output'
          }`;

const UTIL_PY = `def add(a, b):
    """Add two numbers."""
    return a + b
`;

const MAIN_PY = `from util import add


def total(xs):
    """Sum xs with add."""
    result = 0
    for x in xs:
        result = add(result, x)
    return result


def average(xs):
    return `;

const REQUEST_TIMEOUT_MS = 120_000;
/** Guards against a hang (the server never answering); not a speed requirement. */
const LIMIT = { timeout: REQUEST_TIMEOUT_MS };

function settle<T>(promise: Thenable<T>): Promise<{ value?: T; error?: unknown }> {
    return Promise.resolve(promise).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
    );
}

function inlineItems(result: unknown): { insertText: unknown }[] {
    if (result === null || result === undefined) {
        return [];
    }
    return Array.isArray(result) ? result : (result as { items: { insertText: unknown }[] }).items;
}

describe('extension against the real codepager server', { skip, timeout: 10 * REQUEST_TIMEOUT_MS }, () => {
    let repo: string;
    let api: CodepagerApi;
    let client: LanguageClient;
    let document: vscode.TextDocument;
    const subscriptions: vscode.Disposable[] = [];
    const endOfFile = () => new vscode.Position(12, '    return '.length);

    function provideInline(token: vscode.CancellationToken): Promise<unknown> {
        const provider = client.getFeature(InlineCompletionRequest.method)?.getProvider(document);
        assert.ok(provider, 'the server advertises textDocument/inlineCompletion');
        const context = { triggerKind: vscode.InlineCompletionTriggerKind.Automatic, selectedCompletionInfo: undefined };
        return Promise.resolve(provider.provideInlineCompletionItems(document, endOfFile(), context, token));
    }

    before(async () => {
        repo = mkdtempSync(path.join(tmpdir(), 'codepager-vscode-e2e-'));
        spawnSync('git', ['init', '--quiet', repo]);
        writeFileSync(path.join(repo, 'util.py'), UTIL_PY);
        writeFileSync(path.join(repo, 'main.py'), MAIN_PY);
        fake.configuration.set('codepager.interpreter', 'python3');
        fake.configuration.set('codepager.device', 'cpu');
        fake.configuration.set('codepager.maxTokens', 16);
        (vscode.workspace as { workspaceFolders: unknown }).workspaceFolders = [
            { uri: vscode.Uri.file(repo), name: 'repo', index: 0 },
        ];
        api = activate({ subscriptions } as unknown as vscode.ExtensionContext);
        await api.started;
        const running = api.controller.runningClient;
        assert.ok(running, `server did not start: ${JSON.stringify(api.status.current)}`);
        client = running;
        document = fake.openDocument(path.join(repo, 'main.py'), 'python', MAIN_PY) as unknown as vscode.TextDocument;
    }, LIMIT);

    after(async () => {
        await deactivate();
        subscriptions.forEach((subscription) => subscription.dispose());
        rmSync(repo, { recursive: true, force: true });
    }, LIMIT);

    it('starts the server and shows it in the status bar', LIMIT, () => {
        assert.equal(api.status.current.phase, 'running');
        assert.equal(api.status.current.interpreter, 'python3');
    });

    it('ghost text arrives for an inline completion request', LIMIT, async () => {
        const items = inlineItems(await provideInline(new vscode.CancellationTokenSource().token));
        assert.ok(items.length > 0, 'no inline completion items');
        const text = items[0].insertText;
        const insertText = typeof text === 'string' ? text : (text as { value: string }).value;
        assert.ok(insertText.trim().length > 0, `empty ghost text: ${JSON.stringify(items)}`);
    });

    it('"Explain This" on a symbol shows the server\'s Markdown', LIMIT, async () => {
        const cursor = new vscode.Position(3, 6); // inside `total`
        (vscode.window as { activeTextEditor: unknown }).activeTextEditor = {
            document,
            selection: new vscode.Selection(cursor, cursor),
        };
        const outcome = (await fake.commands.get('codepager.explainThis')?.()) as ExplainOutcome;
        assert.equal(outcome.kind, 'markdown', JSON.stringify(outcome));
        assert.ok(outcome.kind === 'markdown' && outcome.markdown.trim().length > 0);
        const panel = fake.panels.at(-1);
        assert.ok(panel.webview.html.includes('<pre>'), 'Markdown shown (as text without the markdown extension)');
    });

    it('cancelling "Explain This" from its notification ends it at once and says so', LIMIT, async () => {
        const pending = fake.commands.get('codepager.explainThis')?.() as Promise<ExplainOutcome>;
        fake.progressSources.at(-1)?.cancel();
        assert.deepEqual(await pending, { kind: 'cancelled' });
        assert.ok(fake.panels.at(-1).webview.html.includes('Cancelled.'));
    });

    it('closing the explanation panel cancels the explanation in flight', LIMIT, async () => {
        const pending = fake.commands.get('codepager.explainThis')?.() as Promise<ExplainOutcome>;
        fake.panels.at(-1).dispose();
        assert.deepEqual(await pending, { kind: 'cancelled' });
    });

    it('asking again cancels the previous explanation; the panel shows the newer answer', LIMIT, async () => {
        const explainThis = fake.commands.get('codepager.explainThis') as () => Promise<ExplainOutcome>;
        const first = explainThis();
        const second = explainThis();
        assert.deepEqual(await first, { kind: 'cancelled' });
        assert.equal((await second).kind, 'markdown');
        assert.ok(!fake.panels.at(-1).webview.html.includes('Cancelled.'));
    });

    it('a cancelled explain is answered with RequestCancelled, or with Markdown when it had already finished', LIMIT, async (t) => {
        // An index-only explain can finish within milliseconds, before the cancel notification is
        // read: both outcomes are legal LSP; anything else (another error, a malformed answer) is not.
        const source = new vscode.CancellationTokenSource();
        const args = [{ textDocument: { uri: document.uri.toString() }, range: new vscode.Range(11, 4, 11, 11) }];
        const answer = settle(
            client.sendRequest(ExecuteCommandRequest.type, { command: 'codepager.explain', arguments: args }, source.token),
        );
        source.cancel();
        const { value, error } = await answer;
        if (error !== undefined) {
            assert.ok(error instanceof ResponseError, `unexpected error ${String(error)}`);
            assert.equal(error.code, LSPErrorCodes.RequestCancelled);
            t.diagnostic('cancelled before it finished');
        } else {
            assert.equal(typeof (value as { markdown?: unknown }).markdown, 'string');
            t.diagnostic('finished before the cancel arrived');
        }
    });

    it('a cancelled inline completion settles empty and the server keeps answering', LIMIT, async () => {
        const source = new vscode.CancellationTokenSource();
        const cancelled = provideInline(source.token);
        source.cancel();
        assert.deepEqual(inlineItems(await cancelled), []);
        const items = inlineItems(await provideInline(new vscode.CancellationTokenSource().token));
        assert.ok(items.length > 0, 'no completion after a cancelled one');
    });

    it('codepager/status answers with a JSON object', LIMIT, async (t) => {
        const status = await client.sendRequest('codepager/status', {});
        t.diagnostic(`codepager/status: ${JSON.stringify(status)}`);
        assert.equal(typeof status, 'object');
        assert.notEqual(status, null);
    });

    it('a changed interpreter setting restarts the server (debounced)', LIMIT, async () => {
        const before = client;
        fake.changeConfiguration({ 'codepager.interpreter': 'python3 ', 'codepager.maxTokens': 8 });
        fake.changeConfiguration({ 'codepager.interpreter': 'python3' });
        while (api.controller.runningClient === undefined || api.controller.runningClient === before) {
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        client = api.controller.runningClient;
        assert.equal(api.status.current.phase, 'running');
    });

    it('restarts the server on "CodePager: Restart Server"', LIMIT, async () => {
        await fake.commands.get('codepager.restartServer')?.();
        const restarted = api.controller.runningClient;
        assert.ok(restarted, `server did not come back: ${JSON.stringify(api.status.current)}\n${fake.outputChannels[0]?.lines.join('\n')}`);
        assert.notEqual(restarted, client);
        client = restarted;
        assert.ok(client.getFeature(InlineCompletionRequest.method)?.getProvider(document));
    });
});
