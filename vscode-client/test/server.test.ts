import './vscodeAlias';
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as vscode from 'vscode';
import { TransportKind } from 'vscode-languageclient/node';
import { Debouncer } from '../src/debounce';
import { DOCUMENT_SELECTOR, clientOptions, serverOptions } from '../src/server';
import { DEFAULT_SETTINGS } from '../src/settings';

describe('serverOptions', () => {
    it('runs `<python> -m codepager.lsp` over stdio in the workspace folder', () => {
        const options = serverOptions({ command: '/venv/bin/python', source: 'setting' }, '/work/repo') as {
            command: string;
            args: string[];
            transport: TransportKind;
            options: { cwd: string; env: Record<string, string> };
        };
        assert.equal(options.command, '/venv/bin/python');
        assert.deepEqual(options.args, ['-m', 'codepager.lsp']);
        assert.equal(options.transport, TransportKind.stdio);
        assert.equal(options.options.cwd, '/work/repo');
        assert.equal(options.options.env.PYTHONUNBUFFERED, '1');
    });
});

describe('clientOptions', () => {
    const channel = vscode.window.createOutputChannel('t', { log: true });
    const options = clientOptions({ ...DEFAULT_SETTINGS, maxTokens: 32 }, channel);

    it('selects files and untitled buffers of the indexed languages', () => {
        assert.deepEqual(options.documentSelector, DOCUMENT_SELECTOR);
        assert.ok(DOCUMENT_SELECTOR.some((f) => f.language === 'python' && f.scheme === 'untitled'));
    });

    it('passes the server settings as initialization options', () => {
        assert.deepEqual(options.initializationOptions, {
            codepager: {
                modelPath: null, device: null, contextBudget: 1536, maxTokens: 32, debounceMs: 75, cpuThreads: null,
            },
        });
    });

    it('does not ask for textDocument/completion (ghost text covers it)', () => {
        const provide = options.middleware?.provideCompletionItem;
        assert.ok(provide !== undefined);
        let called = false;
        const next = () => {
            called = true;
            return [];
        };
        const token = new vscode.CancellationTokenSource().token;
        assert.equal(provide({} as never, {} as never, {} as never, token, next), undefined);
        assert.equal(called, false);
    });
});

describe('Debouncer', () => {
    it('runs only the last action scheduled', async () => {
        const debouncer = new Debouncer(20);
        const ran: number[] = [];
        debouncer.schedule(() => ran.push(1));
        debouncer.schedule(() => ran.push(2));
        assert.equal(debouncer.pending, true);
        await new Promise((resolve) => setTimeout(resolve, 60));
        assert.deepEqual(ran, [2]);
        assert.equal(debouncer.pending, false);
    });

    it('cancel drops the pending action', async () => {
        const debouncer = new Debouncer(10);
        const ran: number[] = [];
        debouncer.schedule(() => ran.push(1));
        debouncer.cancel();
        await new Promise((resolve) => setTimeout(resolve, 30));
        assert.deepEqual(ran, []);
    });
});
